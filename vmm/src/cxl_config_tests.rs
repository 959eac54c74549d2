use super::*;

fn long_form() -> CxlConfig {
    let mut c = CxlConfig::default();
    c.backends.push(parse_backend("id=m0,size=256M").unwrap());
    c.backends
        .push(parse_backend("id=m1,size=512M,kind=file,path=/tmp/x,share=on").unwrap());
    c.host_bridges.push(parse_host_bridge("id=hb0").unwrap());
    c.root_ports
        .push(parse_root_port("id=rp0,bus=hb0").unwrap());
    c.root_ports
        .push(parse_root_port("id=rp1,bus=hb0").unwrap());
    c.devices
        .push(parse_type3("id=d0,port=rp0,volatile-memdev=m0,serial=0x10").unwrap());
    c.devices
        .push(parse_type3("id=d1,port=rp1,persistent-memdev=m1,lsa-size=64K").unwrap());
    c.windows
        .push(parse_window("targets=hb0,size=1G,granularity=4K").unwrap());
    c
}

#[test]
fn long_form_parses_and_numbers_ports() {
    let c = long_form().finish().unwrap();
    assert_eq!(c.root_ports[0].port, Some(0));
    assert_eq!(c.root_ports[1].port, Some(1));
    assert_eq!(c.devices[0].serial, 0x10);
    assert_eq!(c.devices[1].lsa_size, 64 << 10);
    assert_eq!(c.windows[0].granularity, 4096);
    assert_eq!(c.backends[1].kind, BackendKind::File);
    assert_eq!(c.backends[1].path, Some("/tmp/x".into()));
}

#[test]
fn short_form_expands() {
    let c = parse_short("1G,serial=7", 0).unwrap().finish().unwrap();
    assert_eq!(c.host_bridges.len(), 1);
    assert_eq!(c.devices[0].serial, 7);
    assert_eq!(c.devices[0].volatile.as_deref(), Some("cxl-vmem0"));
    assert_eq!(c.windows[0].size, 1 << 30);
    assert_eq!(c.backends[0].size, 1 << 30);
    let c = parse_short("300M,memdev=file:/tmp/f", 1).unwrap();
    assert_eq!(c.windows[0].size, 512 << 20, "window rounded up to 256M");
    assert!(parse_short("1G,memdev=disk", 0).is_err());
    let e = parse_short("18446744073709551615", 0).unwrap_err();
    assert!(e.contains("too large"), "{e}");
}

#[test]
fn explicit_port_numbers_are_kept_even_the_last_one() {
    let mut c = long_form();
    c.root_ports[0] = parse_root_port("id=rp0,bus=hb0,port=255").unwrap();
    let c = c.finish().unwrap();
    assert_eq!(c.root_ports[0].port, Some(255));
    assert_eq!(c.root_ports[1].port, Some(0), "numbered in order");
}

#[test]
fn invalid_topologies_refused_with_one_line() {
    type Edit = fn(&mut CxlConfig);
    let cases: Vec<(Edit, &str)> = vec![
        (|c| c.devices[1].port = "rp0".into(), "has two devices"),
        (
            |c| c.devices[0].port = "nope".into(),
            "no CXL root port 'nope'",
        ),
        (
            |c| c.root_ports[0].bridge = "x".into(),
            "no CXL host bridge 'x'",
        ),
        (
            |c| c.devices[1].persistent = Some("m0".into()),
            "used twice",
        ),
        (
            |c| c.devices[0].volatile = Some("zz".into()),
            "no memory backend 'zz'",
        ),
        (|c| c.backends[0].size = 100 << 20, "multiple of 256M"),
        (|c| c.windows[0].size = 100 << 20, "multiple of 256M"),
        (
            |c| c.windows[0].targets = vec!["hb9".into()],
            "no CXL host bridge 'hb9'",
        ),
        (|c| c.windows[0].granularity = 100, "granularity"),
        (
            |c| c.windows[0].targets = vec!["hb0".into(), "hb0".into()],
            "'hb0' is a target twice",
        ),
        (|c| c.windows.clear(), "need a window"),
        (
            |c| c.host_bridges.push(HostBridgeSpec { id: "hb0".into() }),
            "defined twice",
        ),
        (
            |c| {
                c.root_ports[0].port = Some(3);
                c.root_ports[1].port = Some(3);
            },
            "share a port number",
        ),
        (
            |c| {
                c.devices[0].volatile = None;
            },
            "needs volatile-memdev",
        ),
    ];
    for (edit, want) in cases {
        let mut c = long_form();
        edit(&mut c);
        let e = c.finish().unwrap_err();
        assert!(e.contains(want), "{e} (wanted '{want}')");
        assert_eq!(e.lines().count(), 1);
    }
}

#[test]
fn bad_flags() {
    assert!(parse_backend("id=a").unwrap_err().contains("size"));
    assert!(parse_backend("id=a,size=1G,kind=file")
        .unwrap_err()
        .contains("path"));
    assert!(parse_backend("id=a,size=1G,tag=xyz")
        .unwrap_err()
        .contains("UUID"));
    assert!(parse_backend("id=a,size=1G,kind=memfd,path=/x").is_err());
    // What creating the backend refuses, the command line refuses: a size
    // below or off the page (found by the cli_topology fuzzer), or above
    // the largest backend.
    for size in ["256", "0", "4097", "1T"] {
        let e = parse_backend(&format!("id=b,size={size}")).unwrap_err();
        assert!(e.starts_with("--memory-backend: backend 'b': size"), "{e}");
    }
    assert!(parse_backend("id=b,size=4K").is_ok());
    assert!(parse_root_port("id=a,bus=b,port=300")
        .unwrap_err()
        .contains("255"));
    assert!(parse_type3("id=a").unwrap_err().contains("port"));
    assert!(parse_window("size=1G").unwrap_err().contains("targets"));
    let b = parse_backend("id=a,size=2M,tag=5be13bce-ae34-4a77-b6c3-16df975fcf1a").unwrap();
    assert!(b.tag.is_some());
}

#[test]
fn dynamic_capacity_options() {
    let d =
        parse_type3("id=d,port=rp,dc-regions=2,dc-regions-total-size=4G,dc-sanitize=on").unwrap();
    let dc = d.dc.unwrap();
    assert_eq!(
        (dc.regions, dc.total_size, dc.block_size),
        (2, 4 << 30, 2 << 20)
    );
    assert!(dc.sanitize_on_release);
    assert_eq!(dc.event_log_depth, DEFAULT_DC_EVENT_LOG_DEPTH);
    assert!(parse_type3("id=d,port=rp,dc-regions=9,dc-regions-total-size=4G").is_err());
    assert!(parse_type3("id=d,port=rp,dc-regions=2")
        .unwrap_err()
        .contains("total-size"));
    assert!(parse_type3("id=d,port=rp,dc-block-size=4M")
        .unwrap_err()
        .contains("needs"));
    // A DC-only device is a valid topology.
    let mut c = long_form();
    c.devices[0] = parse_type3("id=d0,port=rp0,dc-regions-total-size=1G").unwrap();
    c.backends.remove(0);
    c.finish().unwrap();
}

/// What the device builder refuses is refused here, at start-up, with one
/// line (found by the cli_topology fuzz target: these passed the checks
/// and stopped the VMM only when the devices were built).
#[test]
fn what_the_device_refuses_is_refused_at_start_up() {
    let dc = |spec: &str| {
        let mut c = long_form();
        c.devices[0] = parse_type3(&format!("id=d0,port=rp0,{spec}")).unwrap();
        c
    };
    let cases = [
        (
            dc("dc-regions-total-size=256M,dc-block-size=3M"),
            "does not split into 1 regions",
        ),
        (
            dc("dc-regions-total-size=256M,dc-block-size=1K"),
            "is not a power of two",
        ),
        (
            dc("dc-regions=3,dc-regions-total-size=256M"),
            "does not split into 3 regions",
        ),
        (dc("dc-regions-total-size=1G,dc-event-log-depth=0"), "depth"),
        (
            dc("dc-regions-total-size=2G,dc-memdev=m0"),
            "DC regions need",
        ),
        (
            {
                let mut c = long_form();
                c.devices[0].fw_version = "a-version-of-17-c".into();
                c
            },
            "FW revision",
        ),
        (
            {
                let mut c = long_form();
                c.devices[0].lsa_size = 32 << 20;
                c
            },
            "LSA",
        ),
    ];
    for (c, want) in cases {
        let e = c.finish().unwrap_err();
        assert!(e.contains(want), "{e} (wanted '{want}')");
        assert!(
            e.starts_with("CXL device 'd0'") || e.contains("of CXL device 'd0'"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
    }
    // A DC backend as large as the DC range is fine (two regions of 128M
    // span 384M: each region's base is 256M-aligned).
    dc("dc-regions=1,dc-regions-total-size=256M,dc-memdev=m0")
        .finish()
        .unwrap();
}

#[test]
fn partitionable_capacity() {
    let with = |opts: &str, size: &str| {
        let mut c = long_form();
        c.backends
            .push(parse_backend(&format!("id=p0,size={size}")).unwrap());
        c.devices[0] = parse_type3(&format!("id=d0,port=rp0,{opts}"))?;
        c.finish()
    };
    let c = with("partitionable-memdev=p0,partition-volatile=256M", "1G").unwrap();
    let p = c.devices[0].partition.as_ref().unwrap();
    assert_eq!((p.align, p.volatile), (256 << 20, 256 << 20));
    let m = c.devices[0].memdev_config(0, 0, 1 << 30, false);
    assert_eq!(m.partitionable_bytes, 1 << 30);
    assert_eq!(m.partition_align_bytes, 256 << 20);
    assert_eq!(m.initial_partition_volatile_bytes, 256 << 20);
    m.validate().unwrap();
    let c = with("partitionable-memdev=p0,partition-align=512M", "1G").unwrap();
    assert_eq!(c.devices[0].partition.as_ref().unwrap().align, 512 << 20);
    for (opts, size, want) in [
        (
            "partition-align=256M,volatile-memdev=m0",
            "1G",
            "needs partitionable-memdev",
        ),
        (
            "partition-volatile=256M,volatile-memdev=m0",
            "1G",
            "needs partitionable-memdev",
        ),
        (
            "partitionable-memdev=nope",
            "1G",
            "no memory backend 'nope'",
        ),
        (
            "partitionable-memdev=p0,partition-align=512M",
            "768M",
            "partition alignment",
        ),
        (
            "partitionable-memdev=p0,partition-align=100M",
            "1G",
            "not a multiple of 256 MiB",
        ),
        (
            "partitionable-memdev=p0,partition-volatile=2G",
            "1G",
            "initial partition",
        ),
        (
            "partitionable-memdev=p0,partition-volatile=128M",
            "1G",
            "initial partition",
        ),
        (
            "partitionable-memdev=p0,partition-align=0",
            "1G",
            "partition alignment",
        ),
        ("partitionable-memdev=m1", "1G", "used twice"),
    ] {
        let e = with(opts, size).unwrap_err();
        assert!(e.contains(want), "{opts}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}
