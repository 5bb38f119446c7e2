//! The Policies API over HTTP, against a real server, on every store: each endpoint and
//! status code of the reference.

mod support;

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};
use support::*;

both_stores!(
    the_reference_create_example_answers_201_with_the_whole_policy,
    a_created_policy_reads_back_by_id_with_its_etag,
    an_update_replaces_sent_fields_and_keeps_the_rest,
    a_delete_answers_204_then_404,
    an_unknown_id_is_404_whatever_its_shape,
    a_bad_condition_is_400_naming_the_rule_and_column,
    a_duplicate_name_is_409_and_stores_nothing,
    a_rejected_update_changes_nothing,
    list_filters_by_the_reference_query_parameters,
    data_survives_a_restart,
    each_create_rule_is_a_400_naming_its_field,
    a_name_of_exactly_128_characters_is_accepted,
    a_body_that_is_not_a_json_object_is_400,
    a_bad_condition_on_a_later_line_names_that_line,
    several_errors_at_once_are_all_listed,
    an_update_replaces_only_the_fields_sent,
    description_null_clears_it_and_severity_null_is_400,
    an_update_with_an_unknown_or_read_only_field_is_400_and_changes_nothing,
    renaming_onto_a_taken_name_is_409_and_changes_nothing,
    every_update_moves_updated_at_and_bumps_version_and_etag,
    an_update_of_an_unknown_id_is_404,
    each_list_filter_and_their_combination_narrow_the_list,
    limit_defaults_to_20_and_stops_at_100,
    offset_pages_report_total_and_has_more,
    each_sort_field_sorts_in_both_orders,
    every_bad_query_value_is_a_400_naming_the_parameter,
    a_cursor_walk_sees_every_original_row_once_while_rows_come_and_go,
    a_cursor_keeps_the_sort_and_filters_of_its_walk,
);

async fn the_reference_create_example_answers_201_with_the_whole_policy(server: TestServer) {
    let response = server.post("/v1/policies", &s3_policy()).await;

    assert_eq!(response.status(), 201);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let policy: Value = response.json().await.unwrap();
    assert!(policy["id"].as_str().unwrap().starts_with("pol_"));
    assert_eq!(policy["name"], "require-s3-encryption");
    assert_eq!(policy["severity"], "MEDIUM");
    assert_eq!(policy["enabled"], true);
    assert_eq!(policy["auto_remediation"], true);
    assert_eq!(policy["tags"], json!([]));
    assert_eq!(policy["compliance_frameworks"], json!([]));
    assert_eq!(policy["remediation_action"], Value::Null);
    assert_eq!(policy["created_at"], policy["updated_at"]);
    assert!(policy["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(policy["created_by"].as_str().unwrap().starts_with("key_"));
    assert_eq!(etag, "\"1\"");
}

async fn a_created_policy_reads_back_by_id_with_its_etag(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let id = created["id"].as_str().unwrap();

    let response = server.get(&format!("/v1/policies/{id}")).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert_eq!(response.json::<Value>().await.unwrap(), created);
}

async fn an_update_replaces_sent_fields_and_keeps_the_rest(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let response = server
        .put(
            &path,
            &json!({"severity": "CRITICAL", "auto_remediation": true}),
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["severity"], "CRITICAL");
    assert_eq!(updated["auto_remediation"], true);
    assert_eq!(updated["tags"], created["tags"]);
    assert_eq!(updated["rules"], created["rules"]);
    assert_eq!(updated["created_at"], created["created_at"]);
    assert!(updated["updated_at"].as_str().unwrap() > created["updated_at"].as_str().unwrap());
    assert_eq!(
        server.get(&path).await.json::<Value>().await.unwrap(),
        updated
    );
}

async fn a_delete_answers_204_then_404(server: TestServer) {
    let created = server.create_policy(&s3_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let deleted = server.delete(&path).await;

    assert_eq!(deleted.status(), 204);
    assert!(deleted.text().await.unwrap().is_empty());
    assert_problem(server.get(&path).await, 404, "not_found").await;
    assert_problem(server.delete(&path).await, 404, "not_found").await;
}

async fn an_unknown_id_is_404_whatever_its_shape(server: TestServer) {
    for id in ["pol_abc123", "nothing", "pol_%F0%9F%92%A9", "1"] {
        let response = server.get(&format!("/v1/policies/{id}")).await;
        assert_problem(response, 404, "not_found").await;
    }
}

async fn a_bad_condition_is_400_naming_the_rule_and_column(server: TestServer) {
    let mut body = vpc_policy();
    body["rules"] = json!([
        {"condition": "resource.a == 1", "effect": "DENY", "message": "ok"},
        {"condition": "resource.a ==", "effect": "DENY", "message": "broken"}
    ]);

    let problem = assert_problem(
        server.post("/v1/policies", &body).await,
        400,
        "invalid_input",
    )
    .await;

    assert_eq!(
        error_fields(&problem),
        vec![("rules[1].condition".into(), "invalid_condition".into())]
    );
    assert_eq!(problem["errors"][0]["line"], 1);
    assert_eq!(problem["errors"][0]["column"], 14);
    let listed = server
        .get("/v1/policies")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 0);
}

async fn a_duplicate_name_is_409_and_stores_nothing(server: TestServer) {
    server.create_policy(&s3_policy()).await;

    assert_problem(
        server.post("/v1/policies", &s3_policy()).await,
        409,
        "conflict",
    )
    .await;

    let listed = server
        .get("/v1/policies")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 1);
}

async fn a_rejected_update_changes_nothing(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let response = server
        .put(&path, &json!({"severity": "CRITICAL", "rules": []}))
        .await;

    let problem = assert_problem(response, 400, "invalid_input").await;
    assert_eq!(
        error_fields(&problem),
        vec![("rules".into(), "too_short".into())]
    );
    assert_eq!(
        server.get(&path).await.json::<Value>().await.unwrap(),
        created
    );
}

async fn list_filters_by_the_reference_query_parameters(server: TestServer) {
    server.create_policy(&s3_policy()).await;
    server.create_policy(&vpc_policy()).await;

    let response = server
        .get("/v1/policies?limit=10&offset=0&resource_type=AWS::S3::Bucket")
        .await;

    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["name"], "require-s3-encryption");
    assert_eq!(
        page["pagination"],
        json!({"limit": 10, "offset": 0, "total": 1, "has_more": false, "next_cursor": null})
    );
}

async fn data_survives_a_restart(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let backing = server.stop().await;
    let restarted = TestServer::start(backing, Default::default()).await;

    assert_eq!(
        restarted.get(&path).await.json::<Value>().await.unwrap(),
        created
    );
    let response = restarted
        .request(Method::GET, "/v1/policies")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap()["pagination"]["total"],
        1
    );
}

/// A valid create body, changed by `change`.
fn body_with(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut body = vpc_policy();
    change(body.as_object_mut().unwrap());
    body
}

/// The names of the policies of a list answer, in order.
fn names(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|policy| policy["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `GET path`, asserting 200; answers the page.
async fn page(server: &TestServer, path: &str) -> Value {
    let response = server.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The total of the unfiltered list.
async fn total(server: &TestServer) -> Value {
    page(server, "/v1/policies").await["pagination"]["total"].clone()
}

async fn each_create_rule_is_a_400_naming_its_field(server: TestServer) {
    let rule = vpc_policy()["rules"][0].clone();
    let without = |field: &'static str| {
        move |body: &mut serde_json::Map<String, Value>| {
            body.remove(field);
        }
    };
    let set = |field: &'static str, value: Value| {
        move |body: &mut serde_json::Map<String, Value>| {
            body.insert(field.to_owned(), value);
        }
    };
    let rule_without = |field: &'static str| {
        let mut rule = rule.clone();
        rule.as_object_mut().unwrap().remove(field);
        json!([rule])
    };
    let mut cases: Vec<(Value, &str, &str)> = vec![
        (body_with(without("name")), "name", "required"),
        (body_with(set("name", json!(""))), "name", "required"),
        (
            body_with(set("name", json!("n".repeat(129)))),
            "name",
            "too_long",
        ),
        (
            body_with(without("resource_type")),
            "resource_type",
            "required",
        ),
        (body_with(without("rules")), "rules", "required"),
        (body_with(set("rules", json!([]))), "rules", "too_short"),
        (
            body_with(set("rules", Value::Array(vec![rule.clone(); 51]))),
            "rules",
            "too_many",
        ),
        (
            body_with(set("rules", rule_without("condition"))),
            "rules[0].condition",
            "required",
        ),
        (
            body_with(set("rules", rule_without("effect"))),
            "rules[0].effect",
            "required",
        ),
        (
            body_with(set("rules", rule_without("message"))),
            "rules[0].message",
            "required",
        ),
        (
            body_with(set("severity", json!("URGENT"))),
            "severity",
            "invalid_type",
        ),
        (
            body_with(set("severity", json!("high"))),
            "severity",
            "invalid_type",
        ),
        (
            body_with(set("colour", json!("blue"))),
            "colour",
            "unknown_field",
        ),
    ];
    for effect in [json!("MAYBE"), json!("deny"), json!(1)] {
        let mut rule = rule.clone();
        rule["effect"] = effect;
        cases.push((
            body_with(set("rules", json!([rule]))),
            "rules[0].effect",
            "invalid_type",
        ));
    }
    for field in ["tags", "compliance_frameworks"] {
        cases.push((body_with(set(field, json!("SOC2"))), field, "invalid_type"));
        cases.push((
            body_with(set(field, json!({"a": 1}))),
            field,
            "invalid_type",
        ));
        let first = if field == "tags" {
            "tags[1]"
        } else {
            "compliance_frameworks[1]"
        };
        cases.push((
            body_with(set(field, json!(["ok", 7]))),
            first,
            "invalid_type",
        ));
        cases.push((body_with(set(field, json!(["ok", ""]))), first, "required"));
    }
    for field in ["id", "created_at", "updated_at", "created_by", "version"] {
        cases.push((body_with(set(field, json!("x"))), field, "read_only"));
    }

    for (body, field, code) in cases {
        let problem = assert_problem(
            server.post("/v1/policies", &body).await,
            400,
            "invalid_input",
        )
        .await;
        assert_eq!(
            error_fields(&problem),
            vec![(field.to_owned(), code.to_owned())],
            "{body}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{problem}"
        );
    }
    assert_eq!(total(&server).await, 0);
}

async fn a_name_of_exactly_128_characters_is_accepted(server: TestServer) {
    let name = "n".repeat(128);

    let created = server
        .create_policy(&body_with(|body| {
            body.insert("name".into(), json!(name));
        }))
        .await;

    assert_eq!(created["name"], name.as_str());
}

async fn a_body_that_is_not_a_json_object_is_400(server: TestServer) {
    for (body, code) in [
        ("{\"name\": ", "malformed_json"),
        ("not json", "malformed_json"),
        ("[]", "invalid_type"),
        ("[{\"name\": \"a\"}]", "invalid_type"),
        ("\"policy\"", "invalid_type"),
    ] {
        let response = server
            .request(Method::POST, "/v1/policies")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();

        let problem = assert_problem(response, 400, "invalid_input").await;
        assert_eq!(
            error_fields(&problem),
            vec![("body".to_owned(), code.to_owned())],
            "{body}"
        );
    }
    assert_eq!(total(&server).await, 0);
}

async fn a_bad_condition_on_a_later_line_names_that_line(server: TestServer) {
    let mut body = vpc_policy();
    body["rules"][0]["condition"] = json!("resource.a == 1 &&\n  resource.b ==");

    let problem = assert_problem(
        server.post("/v1/policies", &body).await,
        400,
        "invalid_input",
    )
    .await;

    assert_eq!(
        error_fields(&problem),
        vec![("rules[0].condition".into(), "invalid_condition".into())]
    );
    assert_eq!(problem["errors"][0]["line"], 2);
    assert!(problem["errors"][0]["column"].as_u64().unwrap() >= 1);
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("line 2, column "), "{message}");
}

async fn several_errors_at_once_are_all_listed(server: TestServer) {
    let body = json!({
        "name": "",
        "severity": "URGENT",
        "rules": [
            {"condition": "resource.a ==", "effect": "DENY", "message": "broken"},
            {"condition": "true", "effect": "MAYBE"}
        ],
        "tags": [""],
        "created_by": "me",
        "colour": "blue"
    });

    let problem = assert_problem(
        server.post("/v1/policies", &body).await,
        400,
        "invalid_input",
    )
    .await;

    let mut found = error_fields(&problem);
    found.sort();
    let expected: Vec<(String, String)> = [
        ("colour", "unknown_field"),
        ("created_by", "read_only"),
        ("name", "required"),
        ("resource_type", "required"),
        ("rules[1].effect", "invalid_type"),
        ("rules[1].message", "required"),
        ("severity", "invalid_type"),
        ("tags[0]", "required"),
    ]
    .into_iter()
    .map(|(field, code)| (field.to_owned(), code.to_owned()))
    .collect();
    assert_eq!(found, expected);
    assert_eq!(problem["detail"], "8 fields are invalid; see `errors`");
}

async fn an_update_replaces_only_the_fields_sent(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());
    let rules =
        json!([{"condition": "resource.public == true", "effect": "DENY", "message": "no"}]);

    let response = server
        .put(
            &path,
            &json!({"tags": ["one"], "rules": rules, "enabled": false}),
        )
        .await;

    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    let mut expected = created.clone();
    expected["tags"] = json!(["one"]);
    expected["rules"] = rules;
    expected["enabled"] = json!(false);
    for server_set in ["updated_at", "version"] {
        expected[server_set] = updated[server_set].clone();
    }
    assert_eq!(updated, expected);
}

async fn description_null_clears_it_and_severity_null_is_400(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let cleared = server.put(&path, &json!({"description": null})).await;
    assert_eq!(cleared.status(), 200);
    let cleared: Value = cleared.json().await.unwrap();
    assert_eq!(cleared["description"], Value::Null);
    assert_eq!(cleared["severity"], "HIGH");

    let problem = assert_problem(
        server.put(&path, &json!({"severity": null})).await,
        400,
        "invalid_input",
    )
    .await;
    assert_eq!(
        error_fields(&problem),
        vec![("severity".into(), "invalid_type".into())]
    );
    assert_eq!(
        server.get(&path).await.json::<Value>().await.unwrap(),
        cleared
    );
}

async fn an_update_with_an_unknown_or_read_only_field_is_400_and_changes_nothing(
    server: TestServer,
) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    for (body, field, code) in [
        (
            json!({"severity": "LOW", "colour": "blue"}),
            "colour",
            "unknown_field",
        ),
        (
            json!({"severity": "LOW", "version": 7}),
            "version",
            "read_only",
        ),
        (json!({"name": "", "severity": "LOW"}), "name", "required"),
        (json!({"tags": [1]}), "tags[0]", "invalid_type"),
    ] {
        let problem = assert_problem(server.put(&path, &body).await, 400, "invalid_input").await;
        assert_eq!(
            error_fields(&problem),
            vec![(field.to_owned(), code.to_owned())]
        );
    }

    let after = server.get(&path).await;
    assert_eq!(after.headers()["etag"], "\"1\"");
    assert_eq!(after.json::<Value>().await.unwrap(), created);
}

async fn renaming_onto_a_taken_name_is_409_and_changes_nothing(server: TestServer) {
    server.create_policy(&s3_policy()).await;
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());

    let response = server
        .put(
            &path,
            &json!({"name": "require-s3-encryption", "severity": "LOW"}),
        )
        .await;

    assert_problem(response, 409, "conflict").await;
    assert_eq!(
        server.get(&path).await.json::<Value>().await.unwrap(),
        created
    );
}

async fn every_update_moves_updated_at_and_bumps_version_and_etag(server: TestServer) {
    let created = server.create_policy(&vpc_policy()).await;
    let path = format!("/v1/policies/{}", created["id"].as_str().unwrap());
    let mut previous = created.clone();

    for (version, severity) in [(2, "LOW"), (3, "CRITICAL")] {
        let response = server.put(&path, &json!({"severity": severity})).await;

        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["etag"],
            format!("\"{version}\"").as_str()
        );
        let updated: Value = response.json().await.unwrap();
        assert_eq!(updated["version"], version);
        assert_eq!(updated["created_at"], created["created_at"]);
        assert!(
            updated["updated_at"].as_str().unwrap() > previous["updated_at"].as_str().unwrap(),
            "{updated}"
        );
        previous = updated;
    }
    let read = server.get(&path).await;
    assert_eq!(read.headers()["etag"], "\"3\"");
    assert_eq!(read.json::<Value>().await.unwrap(), previous);
}

async fn an_update_of_an_unknown_id_is_404(server: TestServer) {
    for id in ["pol_abc123", "nothing"] {
        let response = server
            .put(&format!("/v1/policies/{id}"), &json!({"severity": "LOW"}))
            .await;
        assert_problem(response, 404, "not_found").await;
    }
    assert_eq!(total(&server).await, 0);
}

/// Four policies that differ in every filterable field.
async fn create_filterable(server: &TestServer) {
    for (name, resource_type, severity, enabled, tags) in [
        (
            "a",
            "AWS::S3::Bucket",
            "HIGH",
            true,
            json!(["security", "encryption"]),
        ),
        ("b", "AWS::S3::Bucket", "LOW", false, json!(["security"])),
        (
            "c",
            "AWS::EC2::VPC",
            "HIGH",
            true,
            json!(["security", "networking"]),
        ),
        (
            "d",
            "AWS::EC2::VPC",
            "CRITICAL",
            true,
            json!(["networking"]),
        ),
    ] {
        let mut body = named_policy(name);
        body["resource_type"] = json!(resource_type);
        body["severity"] = json!(severity);
        body["enabled"] = json!(enabled);
        body["tags"] = tags;
        server.create_policy(&body).await;
    }
}

async fn each_list_filter_and_their_combination_narrow_the_list(server: TestServer) {
    create_filterable(&server).await;

    for (query, expected) in [
        ("", vec!["a", "b", "c", "d"]),
        ("resource_type=AWS::S3::Bucket", vec!["a", "b"]),
        ("resource_type=AWS%3A%3AEC2%3A%3AVPC", vec!["c", "d"]),
        ("resource_type=AWS::Lambda::Function", vec![]),
        ("severity=HIGH", vec!["a", "c"]),
        ("severity=CRITICAL", vec!["d"]),
        ("enabled=false", vec!["b"]),
        ("enabled=true", vec!["a", "c", "d"]),
        ("tags=security", vec!["a", "b", "c"]),
        ("tags=security,networking", vec!["c"]),
        ("tags=networking,security", vec!["c"]),
        ("tags=security,missing", vec![]),
        (
            "resource_type=AWS::S3::Bucket&severity=HIGH&enabled=true&tags=security",
            vec!["a"],
        ),
        (
            "resource_type=AWS::EC2::VPC&enabled=true&tags=networking",
            vec!["c", "d"],
        ),
        (
            "resource_type=AWS::S3::Bucket&enabled=false&severity=HIGH",
            vec![],
        ),
    ] {
        let page = page(
            &server,
            &format!("/v1/policies?sort_by=name&order=asc&{query}"),
        )
        .await;

        assert_eq!(names(&page), expected, "{query}");
        assert_eq!(page["pagination"]["total"], expected.len(), "{query}");
        assert_eq!(page["pagination"]["has_more"], false, "{query}");
    }
}

async fn limit_defaults_to_20_and_stops_at_100(server: TestServer) {
    for index in 0..25 {
        server
            .create_policy(&named_policy(&format!("p-{index:02}")))
            .await;
    }

    let first = page(&server, "/v1/policies").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 20);
    assert_eq!(first["pagination"]["limit"], 20);
    assert_eq!(first["pagination"]["total"], 25);
    assert_eq!(first["pagination"]["has_more"], true);

    let all = page(&server, "/v1/policies?limit=100").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 25);
    assert_eq!(all["pagination"]["limit"], 100);
    assert_eq!(all["pagination"]["has_more"], false);

    let problem = assert_problem(
        server.get("/v1/policies?limit=101").await,
        400,
        "invalid_input",
    )
    .await;
    assert_eq!(
        error_fields(&problem),
        vec![("limit".into(), "invalid_value".into())]
    );
}

async fn offset_pages_report_total_and_has_more(server: TestServer) {
    for name in ["a", "b", "c", "d", "e"] {
        server.create_policy(&named_policy(name)).await;
    }

    for (offset, expected, has_more) in [
        (0, vec!["a", "b"], true),
        (2, vec!["c", "d"], true),
        (4, vec!["e"], false),
        (5, vec![], false),
        (9, vec![], false),
    ] {
        let page = page(
            &server,
            &format!("/v1/policies?sort_by=name&order=asc&limit=2&offset={offset}"),
        )
        .await;

        assert_eq!(names(&page), expected, "offset {offset}");
        assert_eq!(page["pagination"]["offset"], offset);
        assert_eq!(page["pagination"]["total"], 5);
        assert_eq!(page["pagination"]["has_more"], has_more, "offset {offset}");
    }
}

async fn each_sort_field_sorts_in_both_orders(server: TestServer) {
    // Created in the order b, d, a, c; then b is updated last.
    let mut ids = BTreeMap::new();
    for (name, severity) in [
        ("b", "LOW"),
        ("d", "CRITICAL"),
        ("a", "MEDIUM"),
        ("c", "HIGH"),
    ] {
        let mut body = named_policy(name);
        body["severity"] = json!(severity);
        let created = server.create_policy(&body).await;
        ids.insert(name, created["id"].as_str().unwrap().to_owned());
    }
    let response = server
        .put(
            &format!("/v1/policies/{}", ids["b"]),
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!(response.status(), 200);

    for (sort, ascending) in [
        ("created_at", ["b", "d", "a", "c"]),
        ("updated_at", ["d", "a", "c", "b"]),
        ("name", ["a", "b", "c", "d"]),
        ("severity", ["b", "a", "c", "d"]),
    ] {
        let asc = page(&server, &format!("/v1/policies?sort_by={sort}&order=asc")).await;
        let desc = page(&server, &format!("/v1/policies?sort_by={sort}&order=desc")).await;

        assert_eq!(names(&asc), ascending, "{sort} asc");
        let mut descending = ascending.to_vec();
        descending.reverse();
        assert_eq!(names(&desc), descending, "{sort} desc");
    }
    let default = page(&server, "/v1/policies").await;
    assert_eq!(
        names(&default),
        ["c", "a", "d", "b"],
        "newest first by default"
    );
}

async fn every_bad_query_value_is_a_400_naming_the_parameter(server: TestServer) {
    let cursor = {
        server.create_policy(&named_policy("a")).await;
        server.create_policy(&named_policy("b")).await;
        let first = page(&server, "/v1/policies?limit=1").await;
        first["pagination"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    for (query, field, code) in [
        ("limit=0", "limit", "invalid_value"),
        ("limit=abc", "limit", "invalid_value"),
        ("limit=-1", "limit", "invalid_value"),
        ("limit=101", "limit", "invalid_value"),
        ("offset=-1", "offset", "invalid_value"),
        ("offset=abc", "offset", "invalid_value"),
        ("severity=high", "severity", "invalid_value"),
        ("severity=URGENT", "severity", "invalid_value"),
        ("enabled=yes", "enabled", "invalid_value"),
        ("enabled=1", "enabled", "invalid_value"),
        ("sort_by=colour", "sort_by", "invalid_value"),
        ("order=up", "order", "invalid_value"),
        ("colour=red", "colour", "unknown_parameter"),
        ("limit=1&limit=2", "limit", "repeated_parameter"),
        ("tags=a,,b", "tags", "invalid_value"),
        ("cursor=garbage", "cursor", "invalid_value"),
        (
            &format!("cursor={cursor}&offset=0"),
            "offset",
            "conflicting_parameters",
        ),
        (
            &format!("cursor={cursor}&sort_by=name"),
            "cursor",
            "conflicting_parameters",
        ),
    ] {
        let problem = assert_problem(
            server.get(&format!("/v1/policies?{query}")).await,
            400,
            "invalid_input",
        )
        .await;
        assert_eq!(
            error_fields(&problem),
            vec![(field.to_owned(), code.to_owned())],
            "{query}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{problem}"
        );
    }
}

async fn a_cursor_walk_sees_every_original_row_once_while_rows_come_and_go(server: TestServer) {
    let mut originals = BTreeMap::new();
    for index in 0..10 {
        let name = format!("p-{index:02}");
        let created = server.create_policy(&named_policy(&name)).await;
        originals.insert(created["id"].as_str().unwrap().to_owned(), name);
    }

    // Another task, with its own key, writes between the pages: each turn inserts rows
    // that sort before, among and after the originals, and deletes one it inserted before.
    let writer_key = server.key_with(&["policies:write", "policies:read"]).await;
    let (turn, mut turns) = tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>(1);
    let client = server.client.clone();
    let base = server.base.clone();
    let writer = tokio::spawn(async move {
        let mut inserted: Vec<String> = Vec::new();
        let mut round = 0;
        while let Some(done) = turns.recv().await {
            for name in [
                format!("a-{round}"),
                format!("p-{:02}-x{round}", round * 3 + 1),
                format!("z-{round}"),
            ] {
                let response = client
                    .post(format!("{base}/v1/policies"))
                    .bearer_auth(&writer_key)
                    .json(&named_policy(&name))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
                let created: Value = response.json().await.unwrap();
                inserted.push(created["id"].as_str().unwrap().to_owned());
            }
            let doomed = inserted.remove(round % inserted.len());
            let response = client
                .delete(format!("{base}/v1/policies/{doomed}"))
                .bearer_auth(&writer_key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 204);
            round += 1;
            done.send(()).unwrap();
        }
    });

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut path = "/v1/policies?limit=3&sort_by=name&order=asc".to_owned();
    let mut pages = 0;
    loop {
        let page = page(&server, &path).await;
        pages += 1;
        assert!(pages < 50, "the walk does not end");
        assert!(page["data"].as_array().unwrap().len() <= 3);
        if pages > 1 {
            assert_eq!(page["pagination"]["offset"], Value::Null);
        }
        for policy in page["data"].as_array().unwrap() {
            *seen
                .entry(policy["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        let Some(cursor) = page["pagination"]["next_cursor"].as_str() else {
            assert_eq!(page["pagination"]["has_more"], false);
            break;
        };
        assert_eq!(page["pagination"]["has_more"], true);
        path = format!("/v1/policies?limit=3&cursor={cursor}");

        let (done, wait) = tokio::sync::oneshot::channel();
        turn.send(done).await.unwrap();
        wait.await.unwrap();
    }
    drop(turn);
    writer.await.unwrap();

    for (id, name) in &originals {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "{name} seen {:?} times",
            seen.get(id)
        );
    }
    assert!(
        seen.values().all(|count| *count == 1),
        "a row repeated: {seen:?}"
    );
}

async fn a_cursor_keeps_the_sort_and_filters_of_its_walk(server: TestServer) {
    create_filterable(&server).await;
    let first = page(
        &server,
        "/v1/policies?limit=1&sort_by=name&order=asc&enabled=true",
    )
    .await;
    assert_eq!(names(&first), ["a"]);
    let cursor = first["pagination"]["next_cursor"].as_str().unwrap();

    let filtered = page(
        &server,
        &format!("/v1/policies?limit=5&enabled=true&cursor={cursor}"),
    )
    .await;
    let cursor_alone = page(&server, &format!("/v1/policies?limit=5&cursor={cursor}")).await;
    let conflicting = server
        .get(&format!(
            "/v1/policies?limit=5&enabled=false&cursor={cursor}"
        ))
        .await;

    assert_eq!(
        names(&filtered),
        ["c", "d"],
        "sorted by name, as the cursor says"
    );
    assert_eq!(
        names(&cursor_alone),
        ["c", "d"],
        "the cursor keeps its filters"
    );
    let problem = assert_problem(conflicting, 400, "invalid_input").await;
    assert_eq!(problem["errors"][0]["field"], "enabled");
    assert_eq!(problem["errors"][0]["code"], "conflicting_parameters");
}
