# 101 Switching Protocols: the rest of the connection is not HTTP and is not parsed.
>>>
GET /ws HTTP/1.1
Connection: Upgrade
Upgrade: websocket

<<<
HTTP/1.1 101 Switching Protocols
Connection: Upgrade
Upgrade: websocket

\x81\x05hello not http at all
>>>
GET /not-a-request HTTP/1.1

=== expect
GET /ws 101 complete req=0 resp=0
=== warnings
protocol-switch: 56 bytes after the connection switched to websocket are not decoded
