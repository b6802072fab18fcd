# Junk where a request should start: a parse warning, then the next request is found.
>>>
GET /1 HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 0

>>>
\x00\x01\x02 this is not http
GET /2 HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 0

=== expect
GET /1 200 complete req=0 resp=0
GET /2 200 complete req=0 resp=0
