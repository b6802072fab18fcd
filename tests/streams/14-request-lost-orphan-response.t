# The second request was lost entirely and the third was sent right behind it. The 404 that
# comes next cannot answer the third: the server's ACK shows it had not received it yet. So
# the 404 is a response without request, and the third request gets the next response.
# Output is in order of first bytes: the 404 was seen after the third request.
>>>
GET /1 HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 1

1\
>>> gap 19
>>>
GET /3 HTTP/1.1

<<< ack 38
HTTP/1.1 404 Not Found
Content-Length: 1

2\
<<<
HTTP/1.1 200 OK
Content-Length: 1

3\
=== expect
GET /1 200 complete req=0 resp=1
GET /3 200 complete req=0 resp=1
- - 404 no-request req=- resp=1
