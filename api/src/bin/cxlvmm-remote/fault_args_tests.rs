//! Tests of `fault-add`, `fault-list`, `fault-clear` and `dc-fault`.

use api::*;
use clap::Parser;

use crate::args::Cli;

fn request(args: &[&str]) -> Result<ApiRequest, String> {
    let mut argv = vec!["cxlvmm-remote", "--api-socket", "/run/vm.sock"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .command
        .request()
}

fn fault(args: &[&str]) -> FaultRequest {
    match request(args).unwrap() {
        ApiRequest::FaultAdd { device, fault } => {
            assert_eq!(device, "mem0");
            fault
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fault_add_kinds() {
    assert_eq!(
        fault(&[
            "fault-add",
            "mem0",
            "--kind",
            "return-code",
            "--opcode",
            "0x4000",
            "--return-code",
            "4",
            "--count",
            "3"
        ]),
        FaultRequest::ReturnCode {
            opcode: 0x4000,
            return_code: 4,
            count: 3
        }
    );
    assert_eq!(
        fault(&["fault-add", "mem0", "--kind", "doorbell-stuck"]),
        FaultRequest::DoorbellStuck {
            opcode: None,
            hold_ms: None,
            count: 1
        }
    );
    assert_eq!(
        fault(&[
            "fault-add",
            "mem0",
            "--kind",
            "background-hold",
            "--opcode",
            "0x4400",
            "--ms",
            "500"
        ]),
        FaultRequest::BackgroundHold {
            opcode: 0x4400,
            ms: 500,
            count: 1
        }
    );
}

#[test]
fn fault_add_refuses_missing_and_stray_options() {
    for args in [
        &[
            "fault-add",
            "mem0",
            "--kind",
            "return-code",
            "--opcode",
            "1",
        ][..],
        &[
            "fault-add",
            "mem0",
            "--kind",
            "return-code",
            "--return-code",
            "4",
        ],
        &[
            "fault-add",
            "mem0",
            "--kind",
            "doorbell-stuck",
            "--return-code",
            "4",
        ],
        &[
            "fault-add",
            "mem0",
            "--kind",
            "background-hold",
            "--opcode",
            "1",
        ],
        &[
            "fault-add",
            "mem0",
            "--kind",
            "return-code",
            "--opcode",
            "0x10000",
        ],
        &["fault-add", "mem0", "--kind", "nap"],
        &["fault-add", "mem0"],
    ] {
        assert!(request(args).is_err(), "{args:?}");
    }
}

#[test]
fn fault_list_and_clear() {
    assert_eq!(
        request(&["fault-list", "mem0"]).unwrap(),
        ApiRequest::FaultList {
            device: "mem0".into()
        }
    );
    assert_eq!(
        request(&["fault-clear", "mem0"]).unwrap(),
        ApiRequest::FaultClear {
            device: "mem0".into(),
            fault: None
        }
    );
    assert_eq!(
        request(&["fault-clear", "mem0", "--id", "0x2"]).unwrap(),
        ApiRequest::FaultClear {
            device: "mem0".into(),
            fault: Some(2)
        }
    );
}

#[test]
fn dc_fault_kinds() {
    let dc = |args: &[&str]| match request(args).unwrap() {
        ApiRequest::DcFaultAdd { fault, .. } => fault,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        dc(&["dc-fault", "mem0", "--kind", "misaligned"]),
        DcFaultRequest::Misaligned { region: 0 }
    );
    assert_eq!(
        dc(&[
            "dc-fault",
            "mem0",
            "--kind",
            "endless-more",
            "--region",
            "1",
            "--records",
            "4"
        ]),
        DcFaultRequest::EndlessMore {
            region: 1,
            records: 4
        }
    );
    assert_eq!(
        dc(&["dc-fault", "mem0", "--kind", "outside-region"]),
        DcFaultRequest::OutsideRegion {}
    );
    assert!(request(&["dc-fault", "mem0", "--kind", "overlapping", "--region", "1"]).is_err());
    assert!(request(&["dc-fault", "mem0", "--kind", "misaligned", "--records", "2"]).is_err());
}

#[test]
fn fault_answers_render() {
    let list = ApiResponse::Faults(FaultList {
        faults: vec![ArmedFault {
            id: 1,
            remaining: 2,
            fault: FaultRequest::DoorbellStuck {
                opcode: None,
                hold_ms: None,
                count: 3,
            },
        }],
        dc_faults: vec![DcFaultInfo {
            id: 2,
            fault: DcFaultRequest::OutsideRegion {},
            extents: vec![FaultExtent {
                dpa: 0x1000_0000,
                len: 2 << 20,
            }],
        }],
    });
    let req = request(&["fault-list", "mem0"]).unwrap();
    let text = crate::output::render(&req, &list);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[1].contains("doorbell-stuck") && lines[1].contains("any"));
    assert!(lines[1].contains("hold 3000 ms"), "{text}");
    assert!(lines[2].contains("outside-region") && lines[2].contains("0x10000000"));
    let add = request(&["dc-fault", "mem0", "--kind", "outside-region"]).unwrap();
    assert_eq!(
        crate::output::render(&add, &ApiResponse::FaultCreated(FaultId { id: 2 })),
        "fault 2 posted on mem0: outside-region\n"
    );
}
