//! One test per rule of the spec: each breaks protocol.yaml in one place and
//! checks that the error names the file, the YAML path and the offending value.

mod common;

use std::path::Path;

use common::{edited, entry, retire_bit_7, retired, set, SPEC};
use haystack_wire_codegen::model::UnknownOpPolicy;
use haystack_wire_codegen::{parse, Error};
use serde_norway::Value;

/// The message of the error the edited spec gives; fails if it validates.
fn rejection(edit: impl FnOnce(&mut Value)) -> String {
    match parse(&edited(edit), Path::new("protocol.yaml")) {
        Ok(_) => panic!("the edited spec was accepted"),
        Err(error) => error.to_string(),
    }
}

fn assert_names(message: &str, path: &str, value: &str) {
    assert!(message.starts_with("protocol.yaml: "), "no file in: {message}");
    assert!(message.contains(path), "no path `{path}` in: {message}");
    assert!(message.contains(value), "no value `{value}` in: {message}");
}

#[test]
fn the_spec_as_committed_is_valid() {
    let protocol = parse(SPEC, Path::new("protocol.yaml")).expect("protocol.yaml is valid");
    assert_eq!(protocol.ops.len(), 13);
    assert_eq!(protocol.flags.len(), 5);
    assert_eq!(protocol.sections.len(), 3);
}

#[test]
fn duplicate_op_names_are_rejected() {
    let message = rejection(|s| set(entry(s, "ops", 5), "name", "read"));
    assert_names(&message, "ops[5].name", "duplicate op name `read`");
    assert!(message.contains("ops[4].name"), "{message}");
}

#[test]
fn duplicate_op_codes_are_rejected() {
    let message = rejection(|s| set(entry(s, "ops", 5), "code", 10));
    assert_names(&message, "ops[5].code", "duplicate op code `10`");
}

#[test]
fn op_codes_must_fit_one_byte() {
    let message = rejection(|s| set(entry(s, "ops", 0), "code", 256));
    assert_names(&message, "ops[0].code", "256");
}

#[test]
fn duplicate_algorithm_ids_and_names_are_rejected() {
    let message = rejection(|s| set(entry(s, "compression", 1), "id", 0));
    assert_names(&message, "compression[1].id", "duplicate algorithm id `0`");
    let message = rejection(|s| set(entry(s, "compression", 1), "name", "zlib"));
    assert_names(&message, "compression[1].name", "duplicate algorithm name `zlib`");
}

#[test]
fn duplicate_flag_names_are_rejected() {
    let message = rejection(|s| set(entry(s, "flags", 2), "name", "error"));
    assert_names(&message, "flags[2].name", "duplicate flag name `error`");
}

#[test]
fn a_reused_flag_bit_is_rejected() {
    let message = rejection(|s| set(entry(s, "flags", 4), "bit", 3));
    assert_names(&message, "flags[4].bit", "duplicate flag bit `3`");
}

#[test]
fn flags_are_listed_by_ascending_bit() {
    let message = rejection(|s| {
        let flags = s["flags"].as_sequence_mut().expect("a list");
        flags.swap(0, 1);
    });
    assert_names(&message, "flags[1].bit", "list flags by ascending bit");
}

#[test]
fn a_flag_bit_outside_the_byte_is_rejected() {
    let message = rejection(|s| set(entry(s, "flags", 4), "bit", 8));
    assert_names(&message, "flags[4].bit", "bit 8");
}

#[test]
fn unused_bits_must_not_be_flags_and_must_cover_the_rest() {
    let message = rejection(|s| s["unused_flag_bits"]["bits"] = Value::from(vec![4, 5, 6, 7]));
    assert_names(&message, "unused_flag_bits.bits[0]", "`chunked`");
    let message = rejection(|s| s["unused_flag_bits"]["bits"] = Value::from(vec![5, 6]));
    assert_names(&message, "unused_flag_bits.bits", "bit 7");
}

#[test]
fn an_unknown_unused_bits_policy_is_rejected() {
    let message = rejection(|s| s["unused_flag_bits"]["policy"] = Value::from("drop"));
    assert_names(&message, "unused_flag_bits.policy", "`drop`");
}

#[test]
fn an_unknown_field_type_is_rejected() {
    let message = rejection(|s| set(&mut s["layout"][0]["fields"][1], "type", "u24"));
    assert_names(&message, "layout[0].fields[1].type", "`u24`");
}

#[test]
fn a_field_role_must_be_known_and_of_its_width() {
    let message = rejection(|s| set(&mut s["layout"][0]["fields"][2], "role", "opcode"));
    assert_names(&message, "layout[0].fields[2].role", "`opcode`");
    let message = rejection(|s| set(&mut s["layout"][1]["fields"][0], "type", "u16"));
    assert_names(&message, "layout[1].fields[0].type", "must be u8, not u16");
}

#[test]
fn every_role_appears_exactly_once() {
    let message = rejection(|s| set(&mut s["layout"][2]["fields"][1], "role", "chunk_index"));
    assert_names(
        &message,
        "layout[2].fields[1].role",
        "duplicate role `chunk_index`",
    );
    let message = rejection(|s| {
        if let Some(fields) = s["layout"][2]["fields"].as_sequence_mut() {
            fields.pop();
        }
    });
    assert_names(&message, "layout", "`chunk_total`");
}

#[test]
fn overlapping_fields_are_rejected() {
    let message = rejection(|s| set(&mut s["layout"][0]["fields"][2], "offset", 2));
    assert_names(
        &message,
        "layout[0].fields[2].offset",
        "offset 2 overlaps field `request_id` (bytes 1..3)",
    );
}

#[test]
fn misordered_fields_are_rejected() {
    let message = rejection(|s| set(&mut s["layout"][0]["fields"][2], "offset", 0));
    assert_names(
        &message,
        "layout[0].fields[2].offset",
        "offset 0 comes before field `request_id`",
    );
}

#[test]
fn gaps_between_fields_are_rejected() {
    let message = rejection(|s| set(&mut s["layout"][0]["fields"][2], "offset", 4));
    assert_names(&message, "layout[0].fields[2].offset", "offset 4 leaves a gap");
}

#[test]
fn sections_are_announced_by_declared_flags_and_the_base_by_none() {
    let message = rejection(|s| set(entry(s, "layout", 2), "present_when", "split"));
    assert_names(&message, "layout[2].present_when", "`split`");
    let message = rejection(|s| set(entry(s, "layout", 0), "present_when", "push"));
    assert_names(&message, "layout[0].present_when", "base header");
    let message = rejection(|s| set(entry(s, "layout", 2), "present_when", "compressed"));
    assert_names(
        &message,
        "layout[2].present_when",
        "duplicate announcing flag `compressed`",
    );
}

#[test]
fn the_flags_field_must_be_in_the_base_header() {
    let message = rejection(|s| {
        set(&mut s["layout"][0]["fields"][0], "role", "chunk_index");
        set(&mut s["layout"][2]["fields"][0], "role", "flags");
        set(&mut s["layout"][2]["fields"][0], "type", "u8");
    });
    assert_names(
        &message,
        "layout[2].fields[0].role",
        "the flags field must be in the base header",
    );
}

#[test]
fn the_op_and_request_id_fields_must_be_in_the_base_header() {
    let message = rejection(|s| {
        set(&mut s["layout"][0]["fields"][2], "role", "compression");
        set(&mut s["layout"][1]["fields"][0], "role", "op");
    });
    assert_names(
        &message,
        "layout[1].fields[0].role",
        "the `op` field must be in the base header",
    );
    let message = rejection(|s| {
        set(&mut s["layout"][0]["fields"][1], "role", "chunk_index");
        set(&mut s["layout"][2]["fields"][0], "role", "request_id");
    });
    assert_names(
        &message,
        "layout[2].fields[0].role",
        "the `request_id` field must be in the base header",
    );
}

#[test]
fn an_unknown_unknown_ops_policy_is_rejected() {
    let message = rejection(|s| s["unknown_ops"]["policy"] = Value::from("ignore"));
    assert_names(&message, "unknown_ops.policy", "`ignore`");
}

#[test]
fn the_flags_that_mark_no_request_are_declared_once_and_needed_to_answer() {
    let message = rejection(|s| s["unknown_ops"]["answered_unless"] = Value::from(vec!["response", "reply"]));
    assert_names(
        &message,
        "unknown_ops.answered_unless[1]",
        "`reply` is not a flag",
    );
    let message = rejection(|s| s["unknown_ops"]["answered_unless"] = Value::from(vec!["push", "push"]));
    assert_names(
        &message,
        "unknown_ops.answered_unless[1]",
        "duplicate flag `push`",
    );
    let message = rejection(|s| s["unknown_ops"]["answered_unless"] = Value::from(Vec::<String>::new()));
    assert_names(&message, "unknown_ops.answered_unless", "policy `answer` needs");
    let message = rejection(|s| s["unknown_ops"]["doc"] = Value::from(""));
    assert_names(&message, "unknown_ops.doc", "doc string");
}

#[test]
fn the_committed_spec_answers_unknown_ops_unless_a_frame_is_a_response_or_a_push() {
    let protocol = parse(SPEC, Path::new("protocol.yaml")).expect("protocol.yaml is valid");
    assert_eq!(protocol.unknown_ops.policy, UnknownOpPolicy::Answer);
    assert_eq!(protocol.unknown_ops.answered_unless, ["response", "push"]);
    assert_eq!(protocol.unanswered_mask(), 0x05);
    assert!(protocol.unknown_ops.stated);
}

#[test]
fn a_spec_without_unknown_ops_reads_as_reject() {
    let text = edited(|s| {
        s.as_mapping_mut().expect("a mapping").remove("unknown_ops");
    });
    let protocol = parse(&text, Path::new("protocol.yaml")).expect("still valid");
    assert_eq!(protocol.unknown_ops.policy, UnknownOpPolicy::Reject);
    assert!(protocol.unknown_ops.answered_unless.is_empty());
    assert!(!protocol.unknown_ops.stated);
}

#[test]
fn a_reject_policy_may_keep_its_flags() {
    let text = edited(|s| s["unknown_ops"]["policy"] = Value::from("reject"));
    let protocol = parse(&text, Path::new("protocol.yaml")).expect("valid");
    assert_eq!(protocol.unknown_ops.policy, UnknownOpPolicy::Reject);
}

#[test]
fn versions_named_by_flags_and_the_handshake_must_exist() {
    let message = rejection(|s| set(entry(s, "flags", 3), "since", 3));
    assert_names(&message, "flags[3].since", "version 3");
    let message = rejection(|s| s["handshake"]["version"] = Value::from(9));
    assert_names(&message, "handshake.version", "version 9");
}

#[test]
fn every_entry_needs_a_doc() {
    let message = rejection(|s| set(entry(s, "ops", 7), "doc", " "));
    assert_names(&message, "ops[7].doc", "doc string");
}

#[test]
fn names_must_be_identifiers() {
    let message = rejection(|s| set(entry(s, "ops", 7), "name", "his-write"));
    assert_names(&message, "ops[7].name", "`his-write`");
}

#[test]
fn defaults_need_a_known_unit_and_a_push_id_that_fits() {
    let message = rejection(|s| set(entry(s, "defaults", 0), "unit", "kib"));
    assert_names(&message, "defaults[0].unit", "`kib`");
    let message = rejection(|s| set(entry(s, "defaults", 4), "value", 70_000));
    assert_names(&message, "defaults[4].value", "70000");
}

#[test]
fn unknown_keys_and_wrong_shapes_fail_with_a_location() {
    let message = rejection(|s| set(entry(s, "ops", 0), "colour", "red"));
    assert!(message.starts_with("protocol.yaml: line "), "{message}");
    assert!(message.contains("colour"), "{message}");
    let error = parse("flags: 3\n", Path::new("protocol.yaml")).expect_err("not a spec");
    assert!(matches!(error, Error::Parse { .. }), "{error:?}");
}

#[test]
fn a_retired_bit_counts_as_assigned_and_is_masked_as_unused() {
    let protocol = parse(&edited(retire_bit_7), Path::new("protocol.yaml")).expect("valid");
    assert_eq!(protocol.reserved.flag_mask(), 0x80);
    assert_eq!(protocol.unused_bits.mask(), 0x60);
}

#[test]
fn a_retired_bit_is_never_reused() {
    let message = rejection(|s| {
        retire_bit_7(s);
        set(entry(s, "flags", 4), "bit", 7);
        s["unused_flag_bits"]["bits"] = Value::from(vec![4, 5, 6]);
    });
    assert_names(
        &message,
        "flags[4].bit",
        "bit 7 belonged to flag `priority`, retired in version 2",
    );
    let message = rejection(|s| {
        retire_bit_7(s);
        s["unused_flag_bits"]["bits"] = Value::from(vec![5, 6, 7]);
    });
    assert_names(
        &message,
        "unused_flag_bits.bits[2]",
        "retired bit of flag `priority`",
    );
}

#[test]
fn a_retired_op_code_or_name_is_never_reused() {
    let message = rejection(|s| {
        s["reserved"]["ops"] = Value::Sequence(vec![retired("hisReadAll", "code", 10, 2)]);
    });
    assert_names(&message, "ops[4].code", "code 10 belonged to op `hisReadAll`");
    let message = rejection(|s| {
        s["reserved"]["ops"] = Value::Sequence(vec![retired("read", "code", 40, 2)]);
    });
    assert_names(
        &message,
        "ops[4].name",
        "name `read` belonged to the op retired in version 2",
    );
}

#[test]
fn a_retired_algorithm_id_is_never_reused() {
    let message = rejection(|s| {
        s["reserved"]["compression"] = Value::Sequence(vec![retired("brotli", "id", 1, 2)]);
    });
    assert_names(
        &message,
        "compression[1].id",
        "id 1 belonged to algorithm `brotli`",
    );
}

#[test]
fn retired_entries_are_unique_in_range_and_dated() {
    let message = rejection(|s| {
        s["reserved"]["ops"] = Value::Sequence(vec![
            retired("old", "code", 40, 2),
            retired("older", "code", 40, 2),
        ]);
    });
    assert_names(&message, "reserved.ops[1].code", "duplicate retired code `40`");
    let message = rejection(|s| {
        s["reserved"]["ops"] = Value::Sequence(vec![retired("old", "code", 300, 2)]);
    });
    assert_names(&message, "reserved.ops[0].code", "code 300 is out of range");
    let message = rejection(|s| {
        s["reserved"]["compression"] = Value::Sequence(vec![retired("old", "id", 9, 7)]);
    });
    assert_names(&message, "reserved.compression[0].retired", "version 7");
}

/// `messages.list[index]`, mutably.
fn message(s: &mut Value, index: usize) -> &mut Value {
    &mut s["messages"]["list"][index]
}

#[test]
fn the_committed_text_messages_are_valid_and_a_spec_may_have_none() {
    let protocol = parse(SPEC, Path::new("protocol.yaml")).expect("protocol.yaml is valid");
    let messages = protocol.messages.expect("the committed spec has text messages");
    assert_eq!(messages.type_field, "type");
    assert_eq!(messages.batch_max_items, 1000);
    assert_eq!(messages.login.steps.len(), 6);
    let text = edited(|s| {
        s.as_mapping_mut().expect("a mapping").remove("messages");
    });
    let protocol = parse(&text, Path::new("protocol.yaml")).expect("still valid");
    assert!(protocol.messages.is_none());
}

#[test]
fn duplicate_messages_and_fields_are_rejected() {
    let message_name = rejection(|s| set(message(s, 1), "name", "request"));
    assert_names(
        &message_name,
        "messages.list[1].name",
        "duplicate message `request`",
    );
    assert!(message_name.contains("messages.list[0].name"), "{message_name}");
    let field = rejection(|s| set(&mut message(s, 0)["fields"][1], "name", "id"));
    assert_names(&field, "messages.list[0].fields[1].name", "duplicate field `id`");
}

#[test]
fn an_unknown_json_shape_or_sender_is_rejected() {
    let shape = rejection(|s| set(&mut message(s, 0)["fields"][0], "json", "number"));
    assert_names(
        &shape,
        "messages.list[0].fields[0].json",
        "unknown JSON shape `number`",
    );
    let sender = rejection(|s| set(message(s, 0), "sender", "broker"));
    assert_names(&sender, "messages.list[0].sender", "unknown sender `broker`");
}

#[test]
fn json_keys_are_ascii_camel_case() {
    let type_field = rejection(|s| s["messages"]["type_field"] = Value::from("message-type"));
    assert_names(&type_field, "messages.type_field", "JSON key `message-type`");
    let field = rejection(|s| set(&mut message(s, 2)["fields"][1], "name", "watch_id"));
    assert_names(&field, "messages.list[2].fields[1].name", "JSON key `watch_id`");
    let ty = rejection(|s| set(message(s, 2), "type", "Watch"));
    assert_names(&ty, "messages.list[2].type", "JSON key `Watch`");
}

#[test]
fn a_typed_message_needs_a_required_string_type_field() {
    let optional = rejection(|s| set(&mut message(s, 2)["fields"][0], "required", false));
    assert_names(
        &optional,
        "messages.list[2].fields",
        "message `watch_push` has type `watch` but no required string field `type`",
    );
    let grid = rejection(|s| set(&mut message(s, 2)["fields"][0], "json", "grid"));
    assert_names(
        &grid,
        "messages.list[2].fields",
        "no required string field `type`",
    );
    let missing = rejection(|s| {
        message(s, 2)["fields"]
            .as_sequence_mut()
            .expect("a list")
            .remove(0);
    });
    assert_names(
        &missing,
        "messages.list[2].fields",
        "no required string field `type`",
    );
}

#[test]
fn a_message_type_may_not_be_the_handshakes() {
    let message = rejection(|s| set(message(s, 2), "type", "capabilities"));
    assert_names(
        &message,
        "messages.list[2].type",
        "type `capabilities` is the capability handshake's",
    );
}

#[test]
fn login_steps_alternate_from_the_client_and_end_with_the_server() {
    let alternate = rejection(|s| {
        s["messages"]["login"]["steps"] =
            Value::from(vec!["hello", "client_first", "server_first", "auth_ok"]);
    });
    assert_names(
        &alternate,
        "messages.login.steps[1]",
        "step 1 `client_first` is sent by the client",
    );
    let server_first = rejection(|s| {
        s["messages"]["login"]["steps"] = Value::from(vec!["hello_answer", "hello"]);
    });
    assert_names(
        &server_first,
        "messages.login.steps[0]",
        "step 0 `hello_answer` is sent by the server",
    );
    let ending = rejection(|s| {
        s["messages"]["login"]["steps"] = Value::from(vec!["hello", "hello_answer", "client_first"]);
    });
    assert_names(&ending, "messages.login.steps", "must end with a server's step");
    let empty = rejection(|s| s["messages"]["login"]["steps"] = Value::from(Vec::<String>::new()));
    assert_names(&empty, "messages.login.steps", "at least one step");
}

#[test]
fn login_steps_and_refusal_name_messages_and_the_refusal_is_the_servers() {
    let step = rejection(|s| s["messages"]["login"]["steps"][0] = Value::from("greet"));
    assert_names(&step, "messages.login.steps[0]", "`greet` is not a message");
    let refusal = rejection(|s| s["messages"]["login"]["refusal"] = Value::from("nope"));
    assert_names(&refusal, "messages.login.refusal", "`nope` is not a message");
    let client = rejection(|s| s["messages"]["login"]["refusal"] = Value::from("hello"));
    assert_names(
        &client,
        "messages.login.refusal",
        "the refusal `hello` must be a server's message",
    );
    let hash = rejection(|s| s["messages"]["login"]["hash"] = Value::from(" "));
    assert_names(&hash, "messages.login.hash", "needs a name");
}

#[test]
fn a_batch_cap_of_zero_or_past_u32_is_rejected() {
    let zero = rejection(|s| s["messages"]["batch"]["max_items"] = Value::from(0));
    assert_names(&zero, "messages.batch.max_items", "a batch cap of 0");
    let huge = rejection(|s| s["messages"]["batch"]["max_items"] = Value::from(1u64 << 33));
    assert_names(&huge, "messages.batch.max_items", "a batch cap of 8589934592");
}

#[test]
fn every_message_and_field_needs_a_doc() {
    let message_doc = rejection(|s| set(message(s, 3), "doc", ""));
    assert_names(&message_doc, "messages.list[3].doc", "doc string");
    let field_doc = rejection(|s| set(&mut message(s, 3)["fields"][1], "doc", " "));
    assert_names(&field_doc, "messages.list[3].fields[1].doc", "doc string");
    let batch_doc = rejection(|s| s["messages"]["batch"]["doc"] = Value::from(""));
    assert_names(&batch_doc, "messages.batch.doc", "doc string");
}
