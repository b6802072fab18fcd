# Keep-alive, the whole second response is lost. The third request was sent right after the
# second response ended (its ACK says so), so the next response is paired with it, and the
# second request is marked as having lost its response.
>>>
GET /1 HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 1

1\
>>>
GET /2 HTTP/1.1

<<< gap 39
>>>
GET /3 HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 1

3\
=== expect
GET /1 200 complete req=0 resp=1
GET /2 - response-gap;no-response req=0 resp=-
GET /3 200 complete req=0 resp=1
