#!/bin/sh
# An application event only the application knows: a demo was booked.
printf 'Status: 303 See Other\nLocation: /demo-booked.html\nX-MQL-Event: demo-booked; points=40\n\n'
