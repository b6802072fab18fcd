# The server answers before the request body has arrived (413): the exchange completes
# when the body has been read, and the connection carries on.
>>>
POST /up HTTP/1.1
Content-Length: 10

01234\
<<<
HTTP/1.1 413 Payload Too Large
Content-Length: 0

>>>
56789\
>>>
GET /next HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 0

=== expect
POST /up 413 complete req=10 resp=0
GET /next 200 complete req=0 resp=0
