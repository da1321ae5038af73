package hostnet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/eksnet/eksnet/internal/atomicfile"
)

// On AL2023 systemd-networkd owns the node's interfaces and nodeadm's udev
// net manager writes /run/systemd/network/70-eks-<ifname>.network (DHCP, a
// route table and rule of its own) for every ENA interface that appears
// before nodeadm's run marker, and caches that choice per instance and
// interface name (docs/node-bootstrap.md). An agent ENI must not be
// configured by networkd: its routes and rules would fight the agent's. The
// file below, written before the ENI is attached, matches the ENI's MAC and
// says Unmanaged=yes; networkd applies the first matching file in lexical
// order across /etc, /run and /usr/lib, so "10-" wins over nodeadm's "70-"
// and the EC2 default "80-ec2.network", at boot as after a reload.

// networkdFilePrefix starts every file the agent writes, so an operator can
// tell them apart (and the agent never touches another file).
const networkdFilePrefix = "10-eksnet-"

// NetworkdFile is the path of the unmanaged file of ENI eniID in dir.
func NetworkdFile(dir, eniID string) string {
	return filepath.Join(dir, networkdFilePrefix+eniID+".network")
}

// WriteNetworkdUnmanaged writes (atomically, replacing any) the file that
// makes systemd-networkd leave the ENI with this MAC alone.
func WriteNetworkdUnmanaged(dir, eniID, mac string) error {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 || strings.ContainsAny(eniID, "/\n") || eniID == "" {
		return fmt.Errorf("writing the systemd-networkd file of ENI %q MAC %q: want an ENI ID and a 6-byte MAC", eniID, mac)
	}
	body := fmt.Sprintf(`# Written by eksnet-agent; removed when ENI %s leaves the node.
# The agent configures this ENI (pod addresses, its own route table and
# rules); systemd-networkd must not, whatever nodeadm's udev net manager
# decided for its interface name.
[Match]
PermanentMACAddress=%s

[Link]
Unmanaged=yes
`, eniID, hw)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing the systemd-networkd file of ENI %s: %w", eniID, err)
	}
	if err := atomicfile.WriteFile(NetworkdFile(dir, eniID), []byte(body), 0o644); err != nil {
		return fmt.Errorf("writing the systemd-networkd file of ENI %s: %w", eniID, err)
	}
	return nil
}

// RemoveNetworkdUnmanaged removes the ENI's file; a missing one is fine.
func RemoveNetworkdUnmanaged(dir, eniID string) error {
	if err := os.Remove(NetworkdFile(dir, eniID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the systemd-networkd file of ENI %s: %w", eniID, err)
	}
	return nil
}
