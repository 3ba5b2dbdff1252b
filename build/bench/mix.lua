-- Copyright 2026 mod_mql maintainers
--
-- Licensed under the Apache License, Version 2.0 (the "License");
-- you may not use this file except in compliance with the License.
-- You may obtain a copy of the License at
--
--     http://www.apache.org/licenses/LICENSE-2.0
--
-- Unless required by applicable law or agreed to in writing, software
-- distributed under the License is distributed on an "AS IS" BASIS,
-- WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
-- See the License for the specific language governing permissions and
-- limitations under the License.

-- wrk script of build/bench.sh: a pool of returning visitors browsing a
-- marketing site.  Every request comes from a random visitor of the pool,
-- with a browser's headers and that visitor's cookies: the mod_mql cookie
-- (signed with the server's key) and a mod_usertrack cookie, so that every
-- server under test receives byte-for-byte the same kind of requests.
--
--   wrk -s mix.lua URL -- COOKIES_FILE [LIMIT]
--
-- Mix: 85% page views (20 pages), 10% the pricing page, 5% whitepaper
-- PDF downloads (3 files).  With LIMIT, the thread stops after LIMIT
-- responses and exits (for the profiler, which needs a fixed number of
-- requests).
-- done() prints one line "BENCH requests=... rps=... p99_us=..." that
-- bench.sh reads.

local ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 " ..
           "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
local cookies, n = {}, 0
local head, tail
local views, pdfs = {}, { "/whitepapers/guide.pdf", "/whitepapers/roi-study.pdf",
                          "/whitepapers/buyers-checklist.pdf" }
for i = 1, 19 do views[i] = "/blog/post-" .. i .. ".html" end
views[20] = "/"

function init(args)
   local file = args[1]
   for line in io.lines(file) do
      n = n + 1
      cookies[n] = line
   end
   if n == 0 then error("no cookies in " .. file) end
   local seed = 0
   for c in string.gmatch(tostring({}), "%x") do seed = seed * 16 + tonumber(c, 16) end
   math.randomseed(os.time() + seed % 1000003)
   head = " HTTP/1.1\r\nHost: " .. wrk.host .. ":" .. wrk.port .. "\r\nUser-Agent: " .. ua ..
          "\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" ..
          "\r\nAccept-Language: en-US,en;q=0.9\r\nCookie: Apache=127.0.0.1."
   limit = tonumber(args[2] or "0")
   seen = 0
end

function request()
   local i = math.random(n)
   local r = math.random(100)
   local path
   if r <= 85 then
      path = views[math.random(20)]
   elseif r <= 95 then
      path = "/pricing.html"
   else
      path = pdfs[math.random(3)]
   end
   return "GET " .. path .. head .. (1700000000000000 + i) .. "; mql_vid=" .. cookies[i] ..
          "\r\n\r\n"
end

-- Only the profiler's run counts responses: a response() function makes
-- wrk parse every response, which costs the client time.
if os.getenv("MQL_BENCH_LIMIT") then
   function response(status, headers, body)
      seen = seen + 1
      -- wrk.thread:stop() would still wait out the duration: leave now
      if limit > 0 and seen >= limit then os.exit(0) end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("BENCH requests=%d rps=%.1f p50_us=%d p99_us=%d " ..
                          "errors=%d non2xx=%d\n",
                          summary.requests, summary.requests / (summary.duration / 1e6),
                          latency:percentile(50), latency:percentile(99),
                          e.connect + e.read + e.write + e.timeout, e.status))
end
