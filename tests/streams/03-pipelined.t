# Three requests in one segment, three responses in one segment: FIFO pairing.
>>>
GET /1 HTTP/1.1
Host: x

GET /2 HTTP/1.1
Host: x

HEAD /3 HTTP/1.1
Host: x

<<<
HTTP/1.1 200 OK
Content-Length: 2

11HTTP/1.1 200 OK
Content-Length: 2

22HTTP/1.1 200 OK
Content-Length: 1000

=== expect
GET /1 200 complete req=0 resp=2
GET /2 200 complete req=0 resp=2
HEAD /3 200 complete req=0 resp=0
