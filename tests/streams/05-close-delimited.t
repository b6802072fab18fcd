# HTTP/1.0 response without Content-Length: the body ends when the server closes.
>>>
GET /old HTTP/1.0

<<<
HTTP/1.0 200 OK
Content-Type: text/plain

line one
line two
<<< end
=== expect
GET /old 200 complete req=0 resp=20
