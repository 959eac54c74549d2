use super::*;

#[test]
fn a_mailbox_record_reads_as_the_command_and_its_payloads() {
    let line = r#"{"seq":12,"t_us":3500042,"kind":"mailbox","device":"mem0","opcode":256,"name":"Get Event Records","in":{"event_log":"Informational"},"rc":"Success","rc_code":0,"out":{"record_count":0},"ns":12345}"#;
    let row = format_line(line).unwrap();
    assert_eq!(
        row,
        "      12       3.500042 mailbox   mem0       Get Event Records (0100h) \
         in {\"event_log\":\"Informational\"} -> Success out {\"record_count\":0} 12 us"
    );
}

#[test]
fn empty_payloads_and_unknown_commands() {
    let line = r#"{"seq":1,"t_us":0,"kind":"mailbox","device":"mem0","opcode":51966,"name":null,"in":{},"rc":"Unsupported","out":{},"ns":800}"#;
    let row = format_line(line).unwrap();
    assert!(
        row.ends_with("Unknown command (CAFEh) -> Unsupported 800 ns"),
        "{row}"
    );
}

#[test]
fn other_kinds_lead_with_what_happened() {
    let dc = r#"{"seq":5,"t_us":10,"kind":"dc","device":"mem0","step":"accepted","by":"host","declined":[]}"#;
    let row = format_line(dc).unwrap();
    assert!(
        row.contains(" dc ") && row.ends_with("accepted by=host declined=[]"),
        "{row}"
    );
    let vm = r#"{"seq":1,"t_us":1,"kind":"vm","state":"started","cpus":2}"#;
    assert!(format_line(vm)
        .unwrap()
        .ends_with("-          started cpus=2"));
    let api = r#"{"seq":2,"t_us":1,"kind":"api","method":"GET","path":"/api/v1/vm","query":null,"status":200}"#;
    assert!(format_line(api).unwrap().ends_with("GET /api/v1/vm 200"));
    let dropped = r#"{"kind":"dropped","count":7,"t_us":9}"#;
    let row = format_line(dropped).unwrap();
    assert!(row.trim_start().starts_with("- "), "{row}");
    assert!(row.contains("7 records dropped"), "{row}");
    let missed = r#"{"kind":"missed","after":0,"through":40}"#;
    assert!(format_line(missed)
        .unwrap()
        .contains("after 0 through 40 were missed"));
}

#[test]
fn blank_and_broken_lines() {
    assert_eq!(format_line("  \n"), None);
    let row = format_line("not json").unwrap();
    assert!(row.ends_with("not json") && row.contains(" ? "), "{row}");
}

#[test]
fn times_taken_read_in_a_fitting_unit() {
    assert_eq!(took(999), "999 ns");
    assert_eq!(took(12_345), "12 us");
    assert_eq!(took(25_000_000), "25 ms");
}

#[test]
fn json_mode_prints_lines_as_they_are() {
    let mut out = Vec::new();
    print_one(&mut out, "{\"a\":1}\n", true).unwrap();
    print_one(&mut out, "\n", true).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "{\"a\":1}\n");
}
