# A gap inside a Content-Length body costs body bytes only: the next exchange is intact.
>>>
GET /big HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 20

aaaaa\
<<< gap 10
<<<
bbbbb\
>>>
GET /next HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 1

n\
=== expect
GET /big 200 response-gap req=0 resp=10
GET /next 200 complete req=0 resp=1
