use clap::error::ErrorKind;
use clap::CommandFactory;

use super::*;

const TAG: &str = "5be1e4d0-3f2a-4c5e-9b1d-0a1b2c3d4e5f";

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    let mut argv = vec!["cxlvmm-remote", "--api-socket", "/run/vm.sock"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv)
}

fn req(args: &[&str]) -> ApiRequest {
    parse(args).unwrap().command.request().unwrap()
}

fn kind(args: &[&str]) -> ErrorKind {
    parse(args).unwrap_err().kind()
}

#[test]
fn clap_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn global_flags() {
    let cli = parse(&["info", "--json"]).unwrap();
    assert!(cli.json);
    assert_eq!(cli.api_socket, Some(PathBuf::from("/run/vm.sock")));
    assert_eq!(cli.command, Command::Info);
    // The socket is checked when a command needs it (`trace` does not).
    let cli = Cli::try_parse_from(["cxlvmm-remote", "info"]).unwrap();
    assert_eq!(cli.api_socket, None);
}

#[test]
fn trace_and_events() {
    let cli = Cli::try_parse_from(["cxlvmm-remote", "trace", "/tmp/t.jsonl", "--follow"]).unwrap();
    assert_eq!(
        cli.command,
        Command::Trace {
            path: PathBuf::from("/tmp/t.jsonl"),
            follow: true
        }
    );
    assert!(cli.command.request().is_err());
    assert_eq!(
        req(&["events", "--since", "41"]),
        ApiRequest::Events { since: Some(41) }
    );
    assert_eq!(req(&["events"]), ApiRequest::Events { since: None });
    let e = parse(&["events", "--since", "x"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ValueValidation);
}

#[test]
fn backend_add() {
    let ApiRequest::BackendAdd(c) = req(&["backend-add", "--id", "m0", "--size", "256M"]) else {
        panic!()
    };
    assert_eq!(
        (c.kind, c.size, c.share, c.prealloc),
        (BackendKind::Memfd, 256 << 20, true, false)
    );
    let ApiRequest::BackendAdd(c) = req(&[
        "backend-add",
        "--id",
        "h0",
        "--size",
        "1G",
        "--kind",
        "hugetlbfs",
        "--path",
        "/dev/hugepages",
        "--no-share",
        "--prealloc",
        "--tag",
        TAG,
    ]) else {
        panic!()
    };
    assert_eq!(c.kind, BackendKind::Hugetlbfs);
    assert!(!c.share && c.prealloc && c.tag.is_some());
    assert_eq!(c.path, Some(PathBuf::from("/dev/hugepages")));
    let ApiRequest::BackendAdd(c) = req(&[
        "backend-add",
        "--id",
        "m",
        "--size",
        "1",
        "--no-share",
        "--share",
    ]) else {
        panic!()
    };
    assert!(c.share, "the last of --share/--no-share wins");
    assert_eq!(
        kind(&["backend-add", "--id", "m", "--size", "1Q"]),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        kind(&["backend-add", "--id", "m", "--size", "1", "--tag", "x"]),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        kind(&["backend-add", "--id", "m", "--size", "1", "--kind", "ram"]),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        kind(&["backend-add", "--size", "1"]),
        ErrorKind::MissingRequiredArgument
    );
}

#[test]
fn dc_add() {
    let r = req(&[
        "dc-add",
        "cxl-mem0",
        "--region",
        "1",
        "--tag",
        TAG,
        "--extent",
        "0:256M",
        "--extent",
        "0x10000000:0x1000",
    ]);
    let ApiRequest::DcAdd { device, request } = r else {
        panic!()
    };
    assert_eq!(device, "cxl-mem0");
    assert_eq!((request.host_id, request.region), (0, 1));
    assert_eq!(request.selection_policy, SelectionPolicy::Prescriptive);
    assert_eq!(
        request.extents,
        [
            RequestedExtent {
                offset: 0,
                len: 256 << 20
            },
            RequestedExtent {
                offset: 0x1000_0000,
                len: 0x1000
            }
        ]
    );
    let ApiRequest::DcAdd { request, .. } = req(&[
        "dc-add",
        "d",
        "--region",
        "0",
        "--host-id",
        "2",
        "--policy",
        "enable-shared-access",
        "--extent",
        "0:1G",
    ]) else {
        panic!()
    };
    assert_eq!(
        request.selection_policy,
        SelectionPolicy::EnableSharedAccess
    );
    assert_eq!(request.host_id, 2);
    assert_eq!(
        kind(&["dc-add", "d", "--region", "0"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        kind(&["dc-add", "d", "--region", "0", "--extent", "1G"]),
        ErrorKind::ValueValidation
    );
    assert_eq!(
        kind(&["dc-add", "d", "--region", "256", "--extent", "0:1"]),
        ErrorKind::ValueValidation
    );
}

#[test]
fn dc_release_policy_defaults() {
    let policy = |args: &[&str]| match req(args) {
        ApiRequest::DcRelease { request, .. } => request.removal_policy,
        other => panic!("{other:?}"),
    };
    let base = ["dc-release", "d", "--region", "0"];
    let with = |extra: &[&'static str]| [&base[..], extra].concat();
    assert_eq!(policy(&with(&["--tag", TAG])), RemovalPolicy::TagBased);
    assert_eq!(
        policy(&with(&["--extent", "0:1M"])),
        RemovalPolicy::Prescriptive
    );
    assert_eq!(
        policy(&with(&["--tag", TAG, "--extent", "0:1M"])),
        RemovalPolicy::Prescriptive
    );
    assert_eq!(
        policy(&with(&["--tag", TAG, "--policy", "prescriptive"])),
        RemovalPolicy::Prescriptive
    );
    let ApiRequest::DcRelease { request, .. } =
        req(&with(&["--extent", "0:1M", "--forced", "--sanitize"]))
    else {
        panic!()
    };
    assert!(request.forced && request.sanitize_on_release);
}

#[test]
fn dc_status_needs_exactly_one_selector() {
    let r = req(&["dc-status", "d", "--region", "3", "--extent", "4K:4K"]);
    let ApiRequest::DcReleaseStatus { query, .. } = r else {
        panic!()
    };
    assert_eq!(query.region, 3);
    assert_eq!(
        query.selector,
        ReleaseSelector::Extent(RequestedExtent {
            offset: 4096,
            len: 4096
        })
    );
    assert_eq!(
        kind(&["dc-status", "d", "--region", "0"]),
        ErrorKind::MissingRequiredArgument
    );
    assert_eq!(
        kind(&[
            "dc-status",
            "d",
            "--region",
            "0",
            "--tag",
            TAG,
            "--extent",
            "0:1"
        ]),
        ErrorKind::ArgumentConflict
    );
}

#[test]
fn sizes() {
    assert_eq!(parse_size("4096"), Ok(4096));
    assert_eq!(parse_size("64k"), Ok(64 << 10));
    assert_eq!(parse_size("0x1000"), Ok(0x1000));
    assert_eq!(parse_size("0x10M"), Ok(16 << 20));
    assert_eq!(parse_size("2G"), Ok(2 << 30));
    for bad in ["", "G", "-1", "1.5G", "0x", "0xZZ", "99999999999T", "1 G"] {
        assert!(parse_size(bad).is_err(), "{bad}");
    }
    assert!(parse_extent("0").is_err());
    assert!(parse_extent("0:").is_err());
}

#[test]
fn every_command_maps_to_its_endpoint() {
    use api::Endpoint as E;
    for (args, endpoint) in [
        (&["info"][..], E::VmInfo),
        (&["shutdown"], E::VmShutdown),
        (&["backend-list"], E::BackendList),
        (&["backend-del", "m0"], E::BackendRemove),
        (&["devices"], E::DeviceList),
        (&["dc-extents", "d"], E::DcExtents),
    ] {
        assert_eq!(req(args).endpoint(), endpoint);
    }
}

#[test]
fn dc_withdraw_is_a_forced_release_of_the_offer() {
    let ApiRequest::DcRelease { device, request } =
        req(&["dc-withdraw", "d", "--region", "1", "--tag", TAG])
    else {
        panic!()
    };
    assert_eq!(device, "d");
    assert_eq!(request.removal_policy, RemovalPolicy::TagBased);
    assert!(request.forced && !request.sanitize_on_release);
    assert_eq!(
        (request.region, request.tag),
        (1, Some(TAG.parse().unwrap()))
    );
    let ApiRequest::DcRelease { request, .. } =
        req(&["dc-withdraw", "d", "--region", "0", "--extent", "2M:2M"])
    else {
        panic!()
    };
    assert_eq!(request.removal_policy, RemovalPolicy::Prescriptive);
    assert!(request.forced);
    assert_eq!(
        kind(&["dc-withdraw", "d", "--region", "0"]),
        ErrorKind::MissingRequiredArgument
    );
    // QMP's field names work as options of dc-release too.
    let ApiRequest::DcRelease { request, .. } = req(&[
        "dc-release",
        "d",
        "--region",
        "0",
        "--extent",
        "0:2M",
        "--forced-removal",
        "--sanitize-on-release",
    ]) else {
        panic!()
    };
    assert!(request.forced && request.sanitize_on_release);
}
