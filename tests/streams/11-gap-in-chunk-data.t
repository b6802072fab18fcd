# A gap inside chunk data keeps the framing.
>>>
GET /c HTTP/1.1

<<<
HTTP/1.1 200 OK
Transfer-Encoding: chunked

a
12\
<<< gap 5
<<<
345
0

>>>
GET /d HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 0

=== expect
GET /c 200 response-gap req=0 resp=5
GET /d 200 complete req=0 resp=0
