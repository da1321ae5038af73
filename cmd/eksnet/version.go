package main

// version is set at release builds with -ldflags "-X main.version=v1.2.3";
// otherwise the module version or "dev" stands (see internal/cli ReadBuildInfo).
var version = ""
