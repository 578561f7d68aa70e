//go:build !linux

package main

import "os"

func dropCache(*os.File) {}
