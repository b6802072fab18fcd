# Requests left without a response when the capture ends.
>>>
POST /openApi/runJob HTTP/1.1
Content-Type: application/x-www-form-urlencoded
Content-Length: 20

jobId=1&appId\
=== expect
POST /openApi/runJob - request-truncated;no-response req=13 resp=-
