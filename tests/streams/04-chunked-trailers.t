# Chunked bodies with extensions and trailers, split at awkward places.
>>>
POST /upload HTTP/1.1
Host: x
Transfer-Encoding: chunked

4\
;ext=1
Wiki
5
pe\
dia
0
Checksum: abc

<<<
HTTP/1.1 200 OK
Transfer-Encoding: chunked

3
abc
0

>>>
GET /after HTTP/1.1

<<<
HTTP/1.1 200 OK
Content-Length: 0

=== expect
POST /upload 200 complete req=9 resp=3
GET /after 200 complete req=0 resp=0
