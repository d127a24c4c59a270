module github.com/pika-dj/pika/desktop/detect/rekordbox/testdata/gen

go 1.26.8

require github.com/mutecomm/go-sqlcipher/v4 v4.4.2
