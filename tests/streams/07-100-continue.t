# Expect: 100-continue, two interim responses, then the final one.
>>>
POST /form HTTP/1.1
Expect: 100-continue
Content-Length: 3

<<<
HTTP/1.1 100 Continue

HTTP/1.1 100 Continue

>>>
a=1\
<<<
HTTP/1.1 200 OK
Content-Length: 2

ok\
=== expect
POST /form 200 complete req=3 resp=2 interim=100,100
