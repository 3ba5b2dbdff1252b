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

-- wrk script of build/bench.sh: browsers.  A browser asks for a page and
-- then for what the page needs (a style sheet, scripts, images, a font),
-- on the same keep-alive connection, with the page as Referer and the
-- visitor's cookies on every request.  wrk's Lua has no per-connection
-- hook, so bench.sh runs one connection per thread (-tN -cN): each
-- thread is one browser, which is one visitor at a time, and draws the
-- next visitor from the pool when its page and files are done.
--
--   wrk -tN -cN -s browser.lua URL -- COOKIES_FILE [LIMIT [MODE]]
--
-- MODE browser (the default): a page (85% blog and home, 10% pricing,
-- 5% a PDF, which has no files after it), then the page's 10 files.
-- MODE static: only the style sheet, always from the pool's first
-- visitor: a request that cannot be an event, by a known visitor.
-- LIMIT and the BENCH line as in mix.lua.

local ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 " ..
           "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
local cookies, n = {}, 0
local host, mode
local views, pdfs = {}, { "/whitepapers/guide.pdf", "/whitepapers/roi-study.pdf",
                          "/whitepapers/buyers-checklist.pdf" }
for i = 1, 19 do views[i] = "/blog/post-" .. i .. ".html" end
views[20] = "/"

local accept_page = "text/html,application/xhtml+xml,application/xml;q=0.9," ..
                    "image/avif,image/webp,*/*;q=0.8"
local accept_image = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
-- what a page needs, in the order a browser finds it
local files = {
   { "/assets/site.css", "text/css,*/*;q=0.1" },
   { "/assets/vendor.js", "*/*" },
   { "/assets/app.js", "*/*" },
   { "/fonts/inter.woff2", "*/*" },
   { "/img/logo.svg", accept_image },
   { "/img/hero.jpg", accept_image },
   { "/img/photo-1.webp", accept_image },
   { "/img/photo-2.webp", accept_image },
   { "/img/icon-1.png", accept_image },
   { "/img/icon-2.png", accept_image },
}

local visitor, page, step = 1, "/", 0

function init(args)
   for line in io.lines(args[1]) do
      n = n + 1
      cookies[n] = line
   end
   if n == 0 then error("no cookies in " .. args[1]) end
   local seed = 0
   for c in string.gmatch(tostring({}), "%x") do seed = seed * 16 + tonumber(c, 16) end
   math.randomseed(os.time() + seed % 1000003)
   host = wrk.host .. ":" .. wrk.port
   limit = tonumber(args[2] or "0")
   mode = args[3] or "browser"
   seen = 0
end

local function get(path, accept, referer)
   return "GET " .. path .. " HTTP/1.1\r\nHost: " .. host .. "\r\nUser-Agent: " .. ua ..
          "\r\nAccept: " .. accept .. "\r\nAccept-Language: en-US,en;q=0.9" ..
          (referer and ("\r\nReferer: http://" .. host .. referer) or "") ..
          "\r\nCookie: Apache=127.0.0.1." .. (1700000000000000 + visitor) ..
          "; mql_vid=" .. cookies[visitor] .. "\r\n\r\n"
end

function request()
   if mode == "static" then
      visitor = 1
      return get(files[1][1], files[1][2], "/")
   end
   if step == 0 then
      visitor = math.random(n)
      local r = math.random(100)
      if r <= 85 then
         page = views[math.random(20)]
      elseif r <= 95 then
         page = "/pricing.html"
      else
         page = pdfs[math.random(3)]
      end
      -- a PDF opens in the viewer: nothing follows it
      step = page:sub(-4) == ".pdf" and 0 or 1
      return get(page, accept_page, nil)
   end
   local f = files[step]
   step = step < #files and step + 1 or 0
   return get(f[1], f[2], page)
end

if os.getenv("MQL_BENCH_LIMIT") then
   function response(status, headers, body)
      seen = seen + 1
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
