# A gap cuts a response head: what was seen is salvaged, the stream resynchronises at the
# next status line and later exchanges survive (Zeek loses them).
>>>
GET /1 HTTP/1.1

<<<
HTTP/1.1 500 Internal Server Error
Content-Ty\
<<< gap 40
<<<
rest of the lost head and its body
>>>
GET /2 HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 2

ok\
=== expect
GET /1 500 response-gap;response-truncated req=0 resp=0
GET /2 200 complete req=0 resp=2
