# One request, one response with a Content-Length body.
>>>
GET /index.html HTTP/1.1
Host: example.com

<<<
HTTP/1.1 200 OK
Content-Length: 5

hello\
=== expect
GET /index.html 200 complete req=0 resp=5
