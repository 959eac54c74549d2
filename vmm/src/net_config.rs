//! `--net tap=NAME[,mac=MAC][,id=ID]`: a virtio-net device on a tap that
//! cxlvmm opens (or creates) at start-up.

use devices::virtio::net::tap::check_name;

use crate::options::KeyValues;

/// Longest id (it names the device in logs and errors).
pub const MAX_ID_LEN: usize = 20;

/// One checked `--net`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// The tap interface.
    pub tap: String,
    /// The guest's MAC address (VIRTIO_NET_F_MAC).
    pub mac: [u8; 6],
    /// Names the device in logs and errors.
    pub id: String,
}

/// The default MAC of the `index`th `--net`: locally administered, unicast,
/// QEMU's 52:54:00 prefix, then c0:00 and the index counted from 1.
pub fn default_mac(index: usize) -> [u8; 6] {
    [0x52, 0x54, 0x00, 0xc0, 0x00, (index + 1) as u8]
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`): a unicast address, not zero.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || format!("--net: mac '{s}' is not six hex bytes like 52:54:00:12:34:56");
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *m = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 != 0 {
        return Err(format!(
            "--net: mac '{s}' is a multicast address (the first byte is odd)"
        ));
    }
    if mac == [0; 6] {
        return Err("--net: mac 00:00:00:00:00:00 is not an address".into());
    }
    Ok(mac)
}

/// Parses the `index`th `--net` value.
pub fn parse_net(s: &str, index: usize) -> Result<NetConfig, String> {
    let kv = KeyValues::parse("--net", s, &["tap", "mac", "id"], None)?;
    let tap = kv.required("tap")?.to_string();
    check_name(&tap).map_err(|e| format!("--net: tap: {e}"))?;
    let mac = match kv.get("mac") {
        Some(m) => parse_mac(m)?,
        None => default_mac(index),
    };
    let id = kv
        .get("id")
        .map_or_else(|| format!("net{index}"), str::to_string);
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "--net: id '{id}' is longer than {MAX_ID_LEN} bytes"
        ));
    }
    Ok(NetConfig { tap, mac, id })
}

/// Parses every `--net` and checks them together (one device per tap,
/// unique ids and addresses).
pub fn parse_nets(values: &[String]) -> Result<Vec<NetConfig>, String> {
    let nets = values
        .iter()
        .enumerate()
        .map(|(i, s)| parse_net(s, i))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, n) in nets.iter().enumerate() {
        let before = &nets[..i];
        if before.iter().any(|o| o.tap == n.tap) {
            return Err(format!("--net: tap '{}' given twice", n.tap));
        }
        if before.iter().any(|o| o.id == n.id) {
            return Err(format!("--net: id '{}' given twice", n.id));
        }
        if before.iter().any(|o| o.mac == n.mac) {
            return Err(format!(
                "--net: mac {} given twice",
                devices::virtio::net::format_mac(&n.mac)
            ));
        }
    }
    Ok(nets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_values() {
        let c = parse_net("tap=tap0", 0).unwrap();
        assert_eq!(c.tap, "tap0");
        assert_eq!(c.mac, [0x52, 0x54, 0x00, 0xc0, 0x00, 0x01]);
        assert_eq!(c.id, "net0");
        let c = parse_net("tap=vm1-eth,mac=02:AB:cd:00:00:10,id=uplink", 3).unwrap();
        assert_eq!(c.mac, [0x02, 0xab, 0xcd, 0, 0, 0x10]);
        assert_eq!(c.id, "uplink");
        assert_eq!(parse_mac("52-54-00-00-00-07").unwrap()[5], 7);
        let two = parse_nets(&["tap=a".into(), "tap=b".into()]).unwrap();
        assert_ne!(two[0].mac, two[1].mac);
        assert_eq!(two[1].id, "net1");
    }

    #[test]
    fn bad_values() {
        let err = |s: &str| parse_net(s, 0).unwrap_err();
        assert!(err("tap=tap0,queues=2").contains("unknown key 'queues'"));
        assert!(err("mac=52:54:00:00:00:01").contains("'tap' is required"));
        assert!(err("tap0").contains("not key=value"));
        assert!(err("tap=").contains("has no value"));
        assert!(err("tap=abcdefghijklmnop").contains("longer than 15"));
        assert!(err("tap=a/b").contains("'/'"));
        assert!(err("tap=tap%d").contains("'%'"));
        for mac in [
            "52:54:00:00:00",
            "52:54:00:00:00:01:02",
            "52:54:00:00:00:1",
            "52:54:00:00:00:0g",
            "525400000001",
            "52:54:00:00:00:+1",
        ] {
            let e = err(&format!("tap=t,mac={mac}"));
            assert!(e.contains("not six hex bytes"), "{mac}: {e}");
        }
        assert!(err("tap=t,mac=01:00:5e:00:00:01").contains("multicast"));
        assert!(err("tap=t,mac=00:00:00:00:00:00").contains("not an address"));
        assert!(err("tap=t,id=abcdefghijklmnopqrstu").contains("longer than 20"));
        let twice = |a: &str, b: &str| parse_nets(&[a.into(), b.into()]).unwrap_err();
        assert!(twice("tap=a", "tap=a").contains("tap 'a' given twice"));
        assert!(twice("tap=a,id=x", "tap=b,id=x").contains("id 'x' given twice"));
        assert!(
            twice("tap=a,mac=02:00:00:00:00:01", "tap=b,mac=02:00:00:00:00:01")
                .contains("given twice")
        );
    }
}
