# CONNECT with a 2xx answer: a tunnel follows.
>>>
CONNECT example.com:443 HTTP/1.1
Host: example.com:443

<<<
HTTP/1.1 200 Connection established

\x16\x03\x01 tls bytes
>>>
\x16\x03\x01 more tls
=== expect
CONNECT example.com:443 200 complete req=0 resp=0
