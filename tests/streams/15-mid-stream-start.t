# The capture starts in the middle of a response body: skipped until the next message.
<<<
y of a response we never saw the head of
}
>>>
rest of a request body&a=1
GET /seen HTTP/1.1
Host: x

<<<
HTTP/1.1 200 OK
Content-Length: 4

seen\
=== expect
GET /seen 200 complete req=0 resp=4
