# A gap in a request body with a known length: the request is incomplete, pairing holds.
>>>
POST /openApi/saveJob HTTP/1.1
Content-Type: application/json; charset=utf-8
Content-Length: 31

{"jobName":\
>>> gap 10
>>>
"x","a":1}\
<<<
HTTP/1.1 200 OK
Content-Length: 16

{"success":true}\
=== expect
POST /openApi/saveJob 200 request-gap req=21 resp=16
