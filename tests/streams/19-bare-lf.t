# Line endings written as bare LF (no CR) by a sloppy client and server.
!lf
>>>
GET /lf HTTP/1.1
Host: x

<<<
HTTP/1.1 200 OK
Content-Length: 3

lf
=== expect
GET /lf 200 complete req=0 resp=3
