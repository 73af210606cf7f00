//! The compatibility check, one rule at a time: each test edits the committed
//! spec the way a careless change would and checks what the check reports.

mod common;

use common::{edited_protocol, entry, op, retire_bit_7, retired, set, SPEC};
use haystack_wire_codegen::compat::{check, Group, Side};
use haystack_wire_codegen::{parse, Protocol};
use serde_norway::Value;

fn committed() -> Protocol {
    parse(SPEC, std::path::Path::new("protocol.yaml")).expect("protocol.yaml is valid")
}

/// `(rule, group, path)` of each finding from the committed spec to the edited one.
fn findings(edit: impl FnOnce(&mut Value)) -> Vec<(String, &'static str, String)> {
    findings_between(&committed(), &edited_protocol(edit))
}

fn findings_between(base: &Protocol, new: &Protocol) -> Vec<(String, &'static str, String)> {
    check(base, new)
        .into_iter()
        .map(|f| (f.rule.name(), f.group().name(), f.path))
        .collect()
}

fn one(rule: &str, group: &'static str, path: &str) -> Vec<(String, &'static str, String)> {
    vec![(rule.to_owned(), group, path.to_owned())]
}

#[test]
fn an_unchanged_spec_has_no_findings() {
    assert_eq!(findings(|_| {}), vec![]);
}

#[test]
fn additions_pass() {
    let found = findings(|s| {
        s["ops"]
            .as_sequence_mut()
            .expect("a list")
            .push(op("hisReadBatch", 19));
        s["flags"].as_sequence_mut().expect("a list").push({
            let mut flag = serde_norway::Mapping::new();
            flag.insert("name".into(), "priority".into());
            flag.insert("bit".into(), 5.into());
            flag.insert("since".into(), 2.into());
            flag.insert("doc".into(), "A flag added for a test.".into());
            Value::Mapping(flag)
        });
        s["unused_flag_bits"]["bits"] = Value::from(vec![6, 7]);
        s["reserved"]["ops"] = Value::Sequence(vec![retired("legacy", "code", 99, 2)]);
    });
    assert_eq!(found, vec![]);
}

#[test]
fn a_renumbered_op_breaks_the_wire() {
    assert_eq!(
        findings(|s| set(entry(s, "ops", 4), "code", 40)),
        one("OP_CODE_CHANGED", "WIRE", "ops[4].code")
    );
}

#[test]
fn two_ops_trading_codes_are_two_changes_and_two_reuses() {
    let found = findings(|s| {
        set(entry(s, "ops", 0), "code", 2);
        set(entry(s, "ops", 1), "code", 1);
    });
    let rules: Vec<&str> = found.iter().map(|(r, _, _)| r.as_str()).collect();
    assert_eq!(
        rules,
        [
            "OP_CODE_CHANGED",
            "OP_CODE_REUSED",
            "OP_CODE_CHANGED",
            "OP_CODE_REUSED"
        ]
    );
}

#[test]
fn a_removed_op_breaks_unless_its_code_is_retired() {
    let remove_nav = |s: &mut Value| {
        s["ops"].as_sequence_mut().expect("a list").remove(5);
    };
    assert_eq!(findings(remove_nav), one("OP_REMOVED", "WIRE", "ops[5]"));
    let found = findings(|s| {
        remove_nav(s);
        s["reserved"]["ops"] = Value::Sequence(vec![retired("nav", "code", 11, 2)]);
    });
    assert_eq!(found, vec![]);
}

#[test]
fn a_renamed_op_is_name_only() {
    assert_eq!(
        findings(|s| set(entry(s, "ops", 4), "name", "readAll")),
        one("OP_RENAMED", "NAME", "ops[4].name")
    );
}

#[test]
fn a_renamed_algorithm_breaks_the_handshake() {
    assert_eq!(
        findings(|s| set(entry(s, "compression", 1), "name", "xz")),
        one("ALGORITHM_RENAMED", "WIRE", "compression[1].name")
    );
}

#[test]
fn a_changed_algorithm_parameter_breaks_the_wire() {
    let found = findings(|s| s["compression"][1]["parameters"][0]["value"] = Value::from(6));
    assert_eq!(
        found,
        one(
            "ALGORITHM_PARAMETER_CHANGED",
            "WIRE",
            "compression[1].parameters[0].value"
        )
    );
}

#[test]
fn a_retired_bit_reused_breaks_the_wire_and_so_does_forgetting_it() {
    let base = edited_protocol(retire_bit_7);
    let reused = edited_protocol(|s| {
        s["unused_flag_bits"]["bits"] = Value::from(vec![5, 6]);
        set(entry(s, "flags", 4), "bit", 7);
        s["unused_flag_bits"]["bits"] = Value::from(vec![4, 5, 6]);
    });
    let found = findings_between(&base, &reused);
    assert!(
        found.contains(&("FLAG_BIT_REUSED".into(), "WIRE", "flags[4].bit".into())),
        "{found:?}"
    );
    let forgotten = edited_protocol(|_| {});
    assert_eq!(
        findings_between(&base, &forgotten),
        one("RETIRED_FLAG_BIT_DELETED", "WIRE", "reserved.flags[0]")
    );
}

#[test]
fn a_resized_field_moves_the_ones_after_it() {
    let found = findings(|s| {
        set(&mut s["layout"][0]["fields"][1], "type", "u32");
        set(&mut s["layout"][0]["fields"][2], "offset", 5);
    });
    assert_eq!(
        found,
        vec![
            ("FIELD_RESIZED".into(), "WIRE", "layout[0].fields[1].type".into()),
            ("FIELD_MOVED".into(), "WIRE", "layout[0].fields[2].offset".into()),
        ]
    );
}

#[test]
fn swapped_fields_are_reordered() {
    let found = findings(|s| {
        let fields = &mut s["layout"][2]["fields"];
        let (index, total) = (fields[0].clone(), fields[1].clone());
        fields[0] = total;
        fields[1] = index;
        set(&mut fields[0], "offset", 0);
        set(&mut fields[1], "offset", 2);
    });
    assert_eq!(
        found,
        vec![
            (
                "FIELD_REORDERED".into(),
                "WIRE",
                "layout[2].fields[1].offset".into()
            ),
            (
                "FIELD_REORDERED".into(),
                "WIRE",
                "layout[2].fields[0].offset".into()
            ),
        ]
    );
}

#[test]
fn a_renamed_field_is_name_only_and_a_removed_one_breaks() {
    assert_eq!(
        findings(|s| set(&mut s["layout"][2]["fields"][1], "name", "count")),
        one("FIELD_RENAMED", "NAME", "layout[2].fields[1].name")
    );
}

#[test]
fn a_section_made_conditional_on_another_flag_breaks_the_wire() {
    let found = findings(|s| set(entry(s, "layout", 2), "present_when", "push"));
    assert_eq!(
        found,
        one("SECTION_CONDITION_CHANGED", "WIRE", "layout[2].present_when")
    );
}

#[test]
fn reordered_sections_break_the_wire() {
    let found = findings(|s| s["layout"].as_sequence_mut().expect("a list").swap(1, 2));
    assert_eq!(found, one("SECTION_REORDERED", "WIRE", "layout[1]"));
}

#[test]
fn a_field_added_to_a_section_resizes_it() {
    let found = findings(|s| {
        let mut field = serde_norway::Mapping::new();
        field.insert("name".into(), "priority".into());
        field.insert("offset".into(), 4.into());
        field.insert("type".into(), "u8".into());
        field.insert("role".into(), "compression".into());
        field.insert("doc".into(), "A field added for a test.".into());
        s["layout"][0]["fields"]
            .as_sequence_mut()
            .expect("a list")
            .push(Value::Mapping(field));
        s["layout"].as_sequence_mut().expect("a list").remove(1);
    });
    assert!(
        found.contains(&("SECTION_RESIZED".into(), "WIRE", "layout[0].fields".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&("FIELD_MOVED".into(), "WIRE", "layout[0].fields[3]".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&("SECTION_REMOVED".into(), "WIRE", "layout[1]".into())),
        "{found:?}"
    );
}

#[test]
fn handshake_versions_and_wire_defaults_are_checked() {
    assert_eq!(
        findings(|s| s["handshake"]["type"] = Value::from("caps")),
        one("HANDSHAKE_CHANGED", "WIRE", "handshake.type")
    );
    assert_eq!(
        findings(|s| set(entry(s, "defaults", 4), "value", 1)),
        one("WIRE_DEFAULT_CHANGED", "WIRE", "defaults[4].value")
    );
    assert_eq!(
        findings(|s| {
            s["defaults"].as_sequence_mut().expect("a list").remove(3);
        }),
        one("DEFAULT_REMOVED", "NAME", "defaults[3]")
    );
    assert_eq!(
        findings(|s| set(entry(s, "defaults", 0), "value", 2048)),
        vec![],
        "a threshold is a sender's choice, not the wire"
    );
}

#[test]
fn findings_say_which_spec_their_path_is_in() {
    let base = committed();
    let new = edited_protocol(|s| {
        s["ops"].as_sequence_mut().expect("a list").remove(5);
    });
    let found = check(&base, &new);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].side, Side::Base);
    assert_eq!(found[0].group(), Group::Wire);
    let line = found[0].to_string();
    assert!(
        line.starts_with("ops[5]: OP_REMOVED [WIRE] op `nav` (code 11)"),
        "{line}"
    );
}

#[test]
fn a_receiver_that_stops_answering_unknown_ops_breaks_the_wire() {
    assert_eq!(
        findings(|s| s["unknown_ops"]["policy"] = Value::from("reject")),
        one("UNKNOWN_OP_POLICY_CHANGED", "WIRE", "unknown_ops.policy")
    );
    let dropped = edited_protocol(|s| {
        s.as_mapping_mut().expect("a mapping").remove("unknown_ops");
    });
    let found = check(&committed(), &dropped);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule.name(), "UNKNOWN_OP_POLICY_CHANGED");
    assert_eq!(
        (found[0].side, found[0].path.as_str()),
        (Side::Base, "unknown_ops")
    );
}

#[test]
fn answering_other_frames_for_unknown_ops_breaks_the_wire() {
    assert_eq!(
        findings(|s| s["unknown_ops"]["answered_unless"] = Value::from(vec!["response"])),
        one("UNKNOWN_OP_POLICY_CHANGED", "WIRE", "unknown_ops.answered_unless")
    );
    assert_eq!(
        findings(|s| s["unknown_ops"]["answered_unless"] = Value::from(vec!["push", "response"])),
        vec![],
        "the same flags in another order"
    );
}

#[test]
fn starting_to_answer_unknown_ops_is_an_addition_from_a_stated_or_an_absent_reject() {
    let stated = edited_protocol(|s| s["unknown_ops"]["policy"] = Value::from("reject"));
    assert_eq!(findings_between(&stated, &committed()), vec![]);
    let absent = edited_protocol(|s| {
        s.as_mapping_mut().expect("a mapping").remove("unknown_ops");
    });
    assert_eq!(findings_between(&absent, &committed()), vec![]);
    assert_eq!(
        findings_between(&absent, &stated),
        vec![],
        "absent reads as reject"
    );
}

#[test]
fn the_released_spec_speaks_to_the_committed_one() {
    let released = parse(
        include_str!("../../spec/released/protocol.yaml"),
        std::path::Path::new("spec/released/protocol.yaml"),
    )
    .expect("the released spec is valid");
    assert!(!released.unknown_ops.stated);
    assert_eq!(findings_between(&released, &committed()), vec![]);
}

/// A field of a text message as the YAML spells it.
fn message_field(name: &str, json: &str, required: bool) -> Value {
    let mut field = serde_norway::Mapping::new();
    field.insert("name".into(), name.into());
    field.insert("json".into(), json.into());
    field.insert("required".into(), required.into());
    field.insert("doc".into(), "A field added for a test.".into());
    Value::Mapping(field)
}

/// `messages.list[index]`, mutably.
fn message(s: &mut Value, index: usize) -> &mut Value {
    &mut s["messages"]["list"][index]
}

fn fields(s: &mut Value, index: usize) -> &mut Vec<Value> {
    message(s, index)["fields"]
        .as_sequence_mut()
        .expect("a list of fields")
}

/// A server's message of type `authFail`, carrying nothing else.
fn auth_fail() -> Value {
    let mut entry = serde_norway::Mapping::new();
    entry.insert("name".into(), "auth_fail".into());
    entry.insert("type".into(), "authFail".into());
    entry.insert("sender".into(), "server".into());
    entry.insert("doc".into(), "A message added for a test.".into());
    entry.insert(
        "fields".into(),
        Value::Sequence(vec![message_field("type", "string", true)]),
    );
    Value::Mapping(entry)
}

#[test]
fn removing_the_text_messages_breaks_the_wire_and_adding_them_is_an_addition() {
    let without = edited_protocol(|s| {
        s.as_mapping_mut().expect("a mapping").remove("messages");
    });
    assert!(without.messages.is_none());
    let found = check(&committed(), &without);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (
            found[0].rule.name(),
            found[0].group().name(),
            found[0].side,
            found[0].path.as_str()
        ),
        ("MESSAGES_REMOVED".to_owned(), "WIRE", Side::Base, "messages")
    );
    assert_eq!(findings_between(&without, &committed()), vec![]);
}

#[test]
fn a_removed_message_breaks_the_wire_and_a_new_one_is_an_addition() {
    assert_eq!(
        findings(|s| {
            s["messages"]["list"].as_sequence_mut().expect("a list").remove(2);
        }),
        one("MESSAGE_REMOVED", "WIRE", "messages.list[2]")
    );
    assert_eq!(
        findings(|s| s["messages"]["list"]
            .as_sequence_mut()
            .expect("a list")
            .push(auth_fail())),
        vec![]
    );
}

#[test]
fn a_renamed_message_is_name_only_even_when_it_is_a_login_step() {
    assert_eq!(
        findings(|s| set(message(s, 2), "name", "json_push")),
        one("MESSAGE_RENAMED", "NAME", "messages.list[2].name")
    );
    let found = findings(|s| {
        set(message(s, 8), "name", "login_ok");
        s["messages"]["login"]["steps"][5] = Value::from("login_ok");
    });
    assert_eq!(found, one("MESSAGE_RENAMED", "NAME", "messages.list[8].name"));
}

#[test]
fn a_message_with_another_type_value_or_sender_breaks_the_wire() {
    assert_eq!(
        findings(|s| set(message(s, 2), "type", "watchUpdate")),
        one("MESSAGE_TYPE_CHANGED", "WIRE", "messages.list[2].type")
    );
    assert_eq!(
        findings(|s| set(message(s, 2), "sender", "client")),
        one("MESSAGE_SENDER_CHANGED", "WIRE", "messages.list[2].sender")
    );
}

#[test]
fn a_removed_or_renamed_field_breaks_the_wire() {
    let found = check(
        &committed(),
        &edited_protocol(|s| {
            fields(s, 2).remove(1);
        }),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].rule.name(), found[0].side, found[0].path.as_str()),
        (
            "MESSAGE_FIELD_REMOVED".to_owned(),
            Side::Base,
            "messages.list[2].fields[1]"
        )
    );
    assert_eq!(
        findings(|s| set(&mut fields(s, 2)[1], "name", "watch")),
        one("MESSAGE_FIELD_RENAMED", "WIRE", "messages.list[2].fields[1].name")
    );
}

#[test]
fn a_field_with_another_json_shape_breaks_the_wire() {
    assert_eq!(
        findings(|s| set(&mut fields(s, 0)[3], "json", "string")),
        one(
            "MESSAGE_FIELD_SHAPE_CHANGED",
            "WIRE",
            "messages.list[0].fields[3].json"
        )
    );
}

#[test]
fn a_field_made_required_or_optional_breaks_the_wire_either_way() {
    assert_eq!(
        findings(|s| set(&mut fields(s, 0)[2], "required", true)),
        one(
            "MESSAGE_FIELD_MADE_REQUIRED",
            "WIRE",
            "messages.list[0].fields[2].required"
        )
    );
    assert_eq!(
        findings(|s| set(&mut fields(s, 0)[0], "required", false)),
        one(
            "MESSAGE_FIELD_MADE_OPTIONAL",
            "WIRE",
            "messages.list[0].fields[0].required"
        )
    );
}

#[test]
fn a_new_optional_field_is_an_addition_and_a_new_required_one_breaks_the_wire() {
    assert_eq!(
        findings(|s| fields(s, 0).push(message_field("deadline", "string", false))),
        vec![]
    );
    assert_eq!(
        findings(|s| fields(s, 0).push(message_field("deadline", "string", true))),
        one(
            "MESSAGE_REQUIRED_FIELD_ADDED",
            "WIRE",
            "messages.list[0].fields[4]"
        )
    );
}

#[test]
fn another_type_field_key_is_one_wire_break() {
    let found = findings(|s| {
        s["messages"]["type_field"] = Value::from("kind");
        for m in s["messages"]["list"].as_sequence_mut().expect("a list") {
            for f in m["fields"].as_sequence_mut().expect("a list of fields") {
                if f["name"] == "type" {
                    set(f, "name", "kind");
                }
            }
        }
    });
    assert_eq!(
        found,
        one("MESSAGE_TYPE_FIELD_CHANGED", "WIRE", "messages.type_field")
    );
}

#[test]
fn a_batch_cap_moved_either_way_breaks_the_wire() {
    for cap in [500, 2000] {
        assert_eq!(
            findings(|s| s["messages"]["batch"]["max_items"] = Value::from(cap)),
            one("BATCH_CAP_CHANGED", "WIRE", "messages.batch.max_items"),
            "{cap}"
        );
    }
    let lowered = check(
        &committed(),
        &edited_protocol(|s| s["messages"]["batch"]["max_items"] = Value::from(500)),
    );
    assert!(
        lowered[0]
            .message
            .contains("receivers of the new spec refuse batches of 501 to 1000 items"),
        "{}",
        lowered[0]
    );
    let raised = check(
        &committed(),
        &edited_protocol(|s| s["messages"]["batch"]["max_items"] = Value::from(2000)),
    );
    assert!(
        raised[0]
            .message
            .contains("receivers of the old spec refuse batches of 1001 to 2000 items"),
        "{}",
        raised[0]
    );
}

#[test]
fn the_login_hash_steps_or_refusal_changed_break_the_wire() {
    assert_eq!(
        findings(|s| s["messages"]["login"]["hash"] = Value::from("SHA-512")),
        one("LOGIN_CHANGED", "WIRE", "messages.login.hash")
    );
    assert_eq!(
        findings(|s| {
            s["messages"]["login"]["steps"] =
                Value::from(vec!["hello", "hello_answer", "client_final", "auth_ok"]);
        }),
        one("LOGIN_CHANGED", "WIRE", "messages.login.steps")
    );
    assert_eq!(
        findings(|s| {
            s["messages"]["list"]
                .as_sequence_mut()
                .expect("a list")
                .push(auth_fail());
            s["messages"]["login"]["refusal"] = Value::from("auth_fail");
        }),
        one("LOGIN_CHANGED", "WIRE", "messages.login.refusal")
    );
}

#[test]
fn doc_changes_to_the_text_messages_are_compatible() {
    let found = findings(|s| {
        let m = &mut s["messages"];
        m["doc"] = Value::from("Reworded.");
        m["batch"]["doc"] = Value::from("Reworded.");
        m["login"]["doc"] = Value::from("Reworded.");
        m["list"][0]["doc"] = Value::from("Reworded.");
        m["list"][0]["fields"][0]["doc"] = Value::from("Reworded.");
    });
    assert_eq!(found, vec![]);
}
