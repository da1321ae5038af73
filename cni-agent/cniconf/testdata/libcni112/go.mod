// Module libcni112 is the CNI library of containerd 1.7 (libcni v1.1.2),
// kept out of the main module so eksnet itself builds against one CNI
// library only. cniconf's TestLibcni112ParsesTheConflist runs it.
module github.com/eksnet/eksnet/cni-agent/cniconf/testdata/libcni112

go 1.22

require github.com/containernetworking/cni v1.1.2
