# HTTP/2 by Upgrade (RFC 7540 section 3.2, deprecated by RFC 9113): the 101 exchange is
# kept; the HTTP/2 after it is not parsed, and a warning says so with its byte count.
>>>
GET /jobs HTTP/1.1
Host: api.example
Connection: Upgrade, HTTP2-Settings
Upgrade: h2c
HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA

<<<
HTTP/1.1 101 Switching Protocols
Connection: Upgrade
Upgrade: h2c

\x00\x00\x00\x04\x00\x00\x00\x00\x00\
>>>
PRI * HTTP/2.0

SM

\x00\x00\x00\x04\x00\x00\x00\x00\x00\
=== expect
GET /jobs 101 complete req=0 resp=0
=== warnings
protocol-switch: 
switched to h2c are not decoded: HTTP/2 by Upgrade (deprecated by RFC 9113) is not parsed
