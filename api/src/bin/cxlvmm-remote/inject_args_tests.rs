//! Tests of the injection subcommands and `qmp`.

use api::*;
use clap::error::ErrorKind;
use clap::Parser;

use crate::args::Cli;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    let mut argv = vec!["cxlvmm-remote", "--api-socket", "/run/vm.sock"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv)
}

fn injection(args: &[&str]) -> (String, Injection) {
    match parse(args).unwrap().command.request().unwrap() {
        ApiRequest::Inject { device, injection } => (device, injection),
        other => panic!("{other:?}"),
    }
}

#[test]
fn poison() {
    let (dev, inj) = injection(&[
        "cxl-inject-poison",
        "mem0",
        "--start",
        "4K",
        "--length",
        "128",
    ]);
    assert_eq!(dev, "mem0");
    assert_eq!(
        inj,
        Injection::Poison(PoisonInjection {
            start: 4096,
            length: 128
        })
    );
    let e = parse(&["cxl-inject-poison", "mem0", "--start", "0"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
}

#[test]
fn general_media_and_dram() {
    let (_, inj) = injection(&[
        "cxl-inject-general-media-event",
        "mem0",
        "--log",
        "failure",
        "--flags",
        "2",
        "--dpa",
        "0x1000",
        "--descriptor",
        "1",
        "--type",
        "0x10",
        "--transaction-type",
        "3",
        "--rank",
        "4",
        "--device-field",
        "0xabcdef",
        "--component-id",
        "dimm0",
    ]);
    let Injection::GeneralMedia(g) = inj else {
        panic!()
    };
    assert_eq!(g.log, EventLogName::Failure);
    assert_eq!((g.dpa, g.event_type, g.rank), (0x1000, 0x10, Some(4)));
    assert_eq!(g.device, Some(0xab_cdef));
    assert_eq!(g.channel, None);
    assert_eq!(g.component_id.as_deref(), Some("dimm0"));
    let (_, inj) = injection(&[
        "cxl-inject-dram-event",
        "mem0",
        "--log",
        "warning",
        "--flags",
        "1",
        "--dpa",
        "0",
        "--descriptor",
        "1",
        "--type",
        "2",
        "--transaction-type",
        "3",
        "--row",
        "7",
        "--correction-mask",
        "1",
        "--correction-mask",
        "0x2",
    ]);
    let Injection::Dram(d) = inj else { panic!() };
    assert_eq!(d.row, Some(7));
    assert_eq!(d.correction_mask, Some(vec![1, 2]));
    assert_eq!(d.bank, None);
    assert!(parse(&[
        "cxl-inject-dram-event",
        "mem0",
        "--log",
        "loud",
        "--flags",
        "1",
        "--dpa",
        "0",
        "--descriptor",
        "1",
        "--type",
        "2",
        "--transaction-type",
        "3"
    ])
    .is_err());
}

#[test]
fn memory_module_takes_negative_temperature() {
    let (_, inj) = injection(&[
        "cxl-inject-memory-module-event",
        "mem0",
        "--log",
        "informational",
        "--flags",
        "0",
        "--type",
        "3",
        "--health-status",
        "1",
        "--media-status",
        "0",
        "--additional-status",
        "0",
        "--life-used",
        "50",
        "--temperature",
        "-15",
        "--dirty-shutdown-count",
        "1",
        "--corrected-volatile-error-count",
        "2",
        "--corrected-persistent-error-count",
        "3",
    ]);
    let Injection::MemoryModule(m) = inj else {
        panic!()
    };
    assert_eq!((m.temperature, m.life_used), (-15, 50));
}

#[test]
fn ras_errors() {
    let (_, inj) = injection(&[
        "cxl-inject-uncorrectable-errors",
        "mem0",
        "--error",
        "mem-data-ecc:1,0x2",
        "--error",
        "internal",
    ]);
    let Injection::Uncorrectable(u) = inj else {
        panic!()
    };
    assert_eq!(u.errors.len(), 2);
    assert_eq!(u.errors[0].error_type, UncorrectableErrorType::MemDataEcc);
    assert_eq!(u.errors[0].header, vec![1, 2]);
    assert!(u.errors[1].header.is_empty());
    for bad in [
        &["cxl-inject-uncorrectable-errors", "mem0"][..],
        &[
            "cxl-inject-uncorrectable-errors",
            "mem0",
            "--error",
            "bogus",
        ],
        &[
            "cxl-inject-uncorrectable-errors",
            "mem0",
            "--error",
            "internal:x",
        ],
        &["cxl-inject-correctable-error", "mem0", "--type", "internal"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    let (_, inj) = injection(&[
        "cxl-inject-correctable-error",
        "mem0",
        "--type",
        "crc-threshold",
    ]);
    assert_eq!(
        inj,
        Injection::Correctable(CorrectableErrorInjection {
            error_type: CorrectableErrorType::CrcThreshold
        })
    );
}

#[test]
fn health() {
    let (_, inj) = injection(&[
        "cxl-inject-health",
        "mem0",
        "--temperature",
        "-20",
        "--life-used",
        "90",
    ]);
    assert_eq!(
        inj,
        Injection::Health(HealthUpdate {
            life_used: Some(90),
            temperature: Some(-20),
            ..Default::default()
        })
    );
    assert!(parse(&["cxl-inject-health", "mem0", "--life-used", "300"]).is_err());
    assert!(parse(&["cxl-inject-health", "mem0", "--temperature", "40000"]).is_err());
}

#[test]
fn qmp() {
    let (dev, inj) = injection(&[
        "qmp",
        r#"{"execute":"cxl-inject-poison","arguments":{"path":"/machine/peripheral/cxl-mem0","start":0,"length":64}}"#,
    ]);
    assert_eq!(dev, "cxl-mem0");
    assert_eq!(inj.name(), "poison");
    let err = parse(&["qmp", r#"{"execute":"quit"}"#])
        .unwrap()
        .command
        .request()
        .unwrap_err();
    assert!(err.contains("path"), "{err}");
}
