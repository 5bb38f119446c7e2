//! The OpenAPI document describes the answers every operation can give: each error answer
//! is a problem in `application/problem+json`, every authenticated operation lists 401 and
//! 429, every operation with a body lists 413 and 415, operation ids are unique, and every
//! reference resolves. `scripts/schemathesis` checks the document against a running server.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::TestServer;

async fn document() -> Value {
    let server = TestServer::sqlite().await;
    server
        .client
        .get(format!("{}/v1/openapi.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every operation as (method, path, operation object).
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    operations
}

#[tokio::test]
async fn every_error_answer_is_a_problem_in_problem_json() {
    let document = document().await;

    for (method, path, operation) in operations(&document) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let content = response["content"].as_object().unwrap();
            let media_types: Vec<_> = content.keys().collect();
            assert_eq!(
                media_types,
                ["application/problem+json"],
                "{method} {path} {status}"
            );
            assert_eq!(
                content["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{method} {path} {status}"
            );
        }
    }
}

#[tokio::test]
async fn every_authenticated_operation_documents_401_and_429_and_every_body_413_and_415() {
    let document = document().await;

    for (method, path, operation) in operations(&document) {
        let responses = operation["responses"].as_object().unwrap();
        let authenticated = operation["security"]
            .as_array()
            .is_some_and(|security| !security.is_empty());
        assert_eq!(
            authenticated,
            path.starts_with("/v1/") && path != "/v1/openapi.json",
            "{method} {path}"
        );
        if authenticated {
            for status in ["401", "429", "500", "503"] {
                assert!(responses.contains_key(status), "{method} {path} {status}");
            }
        }
        if operation.get("requestBody").is_some() {
            for status in ["400", "413", "415"] {
                assert!(responses.contains_key(status), "{method} {path} {status}");
            }
        }
    }
}

#[tokio::test]
async fn operation_ids_are_unique() {
    let document = document().await;

    let mut seen = BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        let id = operation["operationId"].as_str().unwrap().to_owned();
        assert!(seen.insert(id.clone()), "{method} {path} repeats `{id}`");
    }
}

/// Every `$ref` string anywhere in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => found.push(reference.clone()),
                    _ => references(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_resolves() {
    let document = document().await;

    let mut found = Vec::new();
    references(&document, &mut found);

    assert!(!found.is_empty());
    for reference in found {
        let pointer = reference.strip_prefix('#').unwrap();
        assert!(
            document.pointer(pointer).is_some(),
            "`{reference}` names nothing"
        );
    }
}

#[tokio::test]
async fn nullable_fields_are_only_those_the_server_accepts_null_for() {
    let document = document().await;
    let schemas = &document["components"]["schemas"];

    let nullable = |schema: &str, field: &str| {
        let property = &schemas[schema]["properties"][field];
        property["type"]
            .as_array()
            .is_some_and(|types| types.contains(&Value::from("null")))
            || property["oneOf"]
                .as_array()
                .is_some_and(|choices| choices.iter().any(|choice| choice["type"] == "null"))
    };
    for schema in ["PolicyCreate", "PolicyUpdate"] {
        assert!(nullable(schema, "description"), "{schema}");
        assert!(nullable(schema, "remediation_action"), "{schema}");
        for field in [
            "severity",
            "enabled",
            "tags",
            "compliance_frameworks",
            "auto_remediation",
        ] {
            assert!(!nullable(schema, field), "{schema}.{field}");
        }
    }
    assert!(!nullable("PolicyUpdate", "name"));
    assert!(nullable("Policy", "description"));
}
