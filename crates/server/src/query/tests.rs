//! Query strings: defaults, every parameter, and the errors for bad values.

use super::*;

fn errors(result: ApiResult<impl std::fmt::Debug>) -> Vec<(String, String)> {
    match result {
        Err(ApiError::InvalidInput(errors)) => {
            errors.into_iter().map(|e| (e.field, e.code)).collect()
        }
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[test]
fn an_empty_query_gets_the_documented_defaults() {
    let query = policy_query(None).unwrap();

    assert_eq!(query.limit, DEFAULT_LIMIT);
    assert_eq!(query.start, PageStart::Offset(0));
    assert_eq!(
        (query.sort_by, query.order),
        (SortField::CreatedAt, SortOrder::Desc)
    );
}

#[test]
fn every_filter_is_read() {
    let raw = "resource_type=AWS::S3::Bucket&severity=HIGH&enabled=false&tags=a,b&limit=5&offset=10&sort_by=name&order=asc";

    let query = policy_query(Some(raw)).unwrap();

    assert_eq!(query.resource_type.as_deref(), Some("AWS::S3::Bucket"));
    assert_eq!(query.severity, Some(Severity::High));
    assert_eq!(query.enabled, Some(false));
    assert_eq!(query.tags, vec!["a", "b"]);
    assert_eq!((query.limit, query.start), (5, PageStart::Offset(10)));
    assert_eq!(
        (query.sort_by, query.order),
        (SortField::Name, SortOrder::Asc)
    );
}

#[test]
fn bad_values_are_named_not_defaulted() {
    let raw = "limit=0&offset=-1&severity=high&enabled=yes&sort_by=colour&order=up&tags=a,,b";

    let mut found = errors(policy_query(Some(raw)));
    found.sort();

    let expected: Vec<_> = [
        "enabled", "limit", "offset", "order", "severity", "sort_by", "tags",
    ]
    .into_iter()
    .map(|field| (field.to_owned(), "invalid_value".to_owned()))
    .collect();
    assert_eq!(found, expected);
}

#[test]
fn limit_over_the_maximum_is_rejected() {
    assert_eq!(
        errors(policy_query(Some("limit=101"))),
        vec![("limit".into(), "invalid_value".into())]
    );
    assert_eq!(policy_query(Some("limit=100")).unwrap().limit, 100);
}

#[test]
fn unknown_and_repeated_parameters_are_rejected() {
    let found = errors(policy_query(Some("colour=red&limit=1&limit=2")));

    assert_eq!(
        found,
        vec![
            ("colour".into(), "unknown_parameter".into()),
            ("limit".into(), "repeated_parameter".into())
        ]
    );
}

#[test]
fn a_cursor_carries_its_sort_and_refuses_offset_or_another_sort() {
    let cursor = Cursor {
        sort_by: SortField::Name,
        order: SortOrder::Asc,
        key: policycortex_store::cursor::SortKey::Text("b".into()),
        id: "pol_1".into(),
        filters: CursorFilters::default(),
    }
    .encode();

    let query = policy_query(Some(&format!("cursor={cursor}"))).unwrap();
    let conflicting = errors(policy_query(Some(&format!(
        "cursor={cursor}&offset=0&sort_by=severity"
    ))));

    assert_eq!(
        (query.sort_by, query.order),
        (SortField::Name, SortOrder::Asc)
    );
    assert!(matches!(query.start, PageStart::After(_)));
    assert_eq!(
        conflicting,
        vec![
            ("offset".into(), "conflicting_parameters".into()),
            ("cursor".into(), "conflicting_parameters".into())
        ]
    );
    assert_eq!(
        errors(policy_query(Some("cursor=garbage"))),
        vec![("cursor".into(), "invalid_value".into())]
    );
}

#[test]
fn a_cursor_keeps_the_filters_of_its_walk_and_refuses_others() {
    let cursor = Cursor {
        sort_by: SortField::CreatedAt,
        order: SortOrder::Desc,
        key: policycortex_store::cursor::SortKey::Text("2026-01-01T00:00:00.000000Z".into()),
        id: "pol_1".into(),
        filters: CursorFilters::new(
            Some("AWS::S3::Bucket".into()),
            None,
            Some(true),
            vec!["pci".into(), "security".into()],
        ),
    }
    .encode();

    let alone = policy_query(Some(&format!("cursor={cursor}"))).unwrap();
    let repeated = policy_query(Some(&format!(
        "cursor={cursor}&resource_type=AWS::S3::Bucket&tags=security,pci&enabled=true"
    )))
    .unwrap();
    let conflicting = errors(policy_query(Some(&format!(
        "cursor={cursor}&resource_type=AWS::IAM::Role"
    ))));
    let added = errors(policy_query(Some(&format!(
        "cursor={cursor}&severity=HIGH"
    ))));

    assert_eq!(alone.resource_type.as_deref(), Some("AWS::S3::Bucket"));
    assert_eq!(alone.enabled, Some(true));
    assert_eq!(alone.tags, vec!["pci".to_owned(), "security".to_owned()]);
    assert_eq!(repeated.tags, alone.tags);
    assert_eq!(
        conflicting,
        vec![("resource_type".into(), "conflicting_parameters".into())]
    );
    assert_eq!(
        added,
        vec![("severity".into(), "conflicting_parameters".into())]
    );
}
