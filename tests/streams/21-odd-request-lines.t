# Request lines that httparse rejects are read like Wireshark reads them.
>>>
OPTIONS HTTP/1.1
Host: x

<<<
HTTP/1.0 400 Bad Request
Content-Length: 0

>>>
GET /x HTTP/1.
Host: x

<<<
HTTP/1.0 400 Bad Request
Content-Length: 0

=== expect
OPTIONS HTTP/1.1 400 complete req=0 resp=0
GET /x 400 complete req=0 resp=0
