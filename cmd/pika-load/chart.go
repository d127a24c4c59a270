package main

func chart(args []string, stdout interface{ Write([]byte) (int, error) }) error { return nil }
