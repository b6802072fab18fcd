# HEAD, 204 and 304 responses carry no body even with a Content-Length.
>>>
HEAD /h HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 50

>>>
DELETE /d HTTP/1.1

<<<
HTTP/1.1 204 No Content

>>>
GET /c HTTP/1.1
If-None-Match: "x"

<<<
HTTP/1.1 304 Not Modified
Content-Length: 77

>>>
GET /last HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 2

ok\
=== expect
HEAD /h 200 complete req=0 resp=0
DELETE /d 204 complete req=0 resp=0
GET /c 304 complete req=0 resp=0
GET /last 200 complete req=0 resp=2
