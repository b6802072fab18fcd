# Header lines ending in CR CR LF, and obs-fold continuation lines (RFC 9112 section 5.2),
# in a request and in a response: tshark, Suricata's libhtp and browsers read them.
>>>
POST /fold HTTP/1.1
Host: x
X-Long: part one
 part two
Content-Length: 2

ab
<<<
HTTP/1.1 200 OK\x0d
Content-Length: 3\x0d
X-Note: a\x0d

cde
>>>
GET /after HTTP/1.1
Host: x

<<<
HTTP/1.1 204 No Content

=== expect
POST /fold 200 complete req=2 resp=3
GET /after 204 complete req=0 resp=0
=== warnings
lenient-head: a response head with lines ending in CR CR LF was read leniently
