# Three exchanges on one connection, one after the other.
>>>
GET /a HTTP/1.1
Host: x

<<<
HTTP/1.1 200 OK
Content-Length: 1

a\
>>>
POST /b HTTP/1.1
Host: x
Content-Type: application/x-www-form-urlencoded
Content-Length: 9

jobId=1&x\
<<<
HTTP/1.1 201 Created
Content-Length: 0

>>>
DELETE /c HTTP/1.1
Host: x

<<<
HTTP/1.1 404 Not Found
Content-Length: 3

no!\
=== expect
GET /a 200 complete req=0 resp=1
POST /b 201 complete req=9 resp=0
DELETE /c 404 complete req=0 resp=3
