# Pipelined requests and a lost response: the ACKs cannot say which response was lost,
# so the pairing after the gap is marked uncertain rather than silently guessed.
>>>
GET /1 HTTP/1.1

GET /2 HTTP/1.1

GET /3 HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 1

1\
<<< gap 39
<<<
HTTP/1.1 200 OK
Content-Length: 1

3\
=== expect
GET /1 200 complete req=0 resp=1
GET /2 200 pairing-uncertain req=0 resp=1
GET /3 - no-response req=0 resp=-
