//! The OpenAPI document: the bespoke routes come from their `#[utoipa::path]` attributes
//! ([`super::ApiDoc`]); the five operations of each registered kind are built here, from
//! the kind's types and texts, so a new kind is documented by being registered.

use std::sync::OnceLock;

use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Required, ResponseBuilder, Schema};
use utoipa::{IntoParams, OpenApi as _, PartialSchema, ToSchema};

use super::params::PageQuery;
use super::resources::{collection_path, item_path, ApiKind};
use super::ApiDoc;
use crate::kinds::KINDS;

/// The whole document, built once: it is a function of the code, not of any request.
pub fn document() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        for kind in KINDS {
            kind.document(&mut doc);
        }
        doc
    })
}

/// Adds `K`'s schemas (the kind, its create and update bodies, a page of it, and every
/// type they refer to) and its five operations to `doc`.
pub fn add_kind<K: ApiKind>(doc: &mut OpenApi) {
    let name = K::INFO.name;
    let kind = schema_name::<K>();
    let page = format!("{kind}Page");
    let mut schemas = vec![
        named::<K>(),
        named::<K::Create>(),
        named::<K::Update>(),
        (page.clone(), page_schema(&kind)),
    ];
    <K as ToSchema>::schemas(&mut schemas);
    K::Create::schemas(&mut schemas);
    K::Update::schemas(&mut schemas);
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);

    let docs = K::DOCS;
    let Texts { id, the, no_such } = Texts::of(name);
    let op = |id: &str| operation(id, K::INFO.plural);
    let collection = collection_path::<K>();
    let item = item_path::<K>();
    let paths = &mut doc.paths;

    let create = op("create")
        .parameter(project())
        .parameter(header(
            "Idempotency-Key",
            "Makes a retried create return the first result",
        ))
        .request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json(&schema_name::<K::Create>()))
                .required(Some(Required::True))
                .build(),
        ))
        .response("201", answer("Created", &kind))
        .response(
            "409",
            problem(&format!(
                "{}; or another {name} of the project has the name (`name-taken`)",
                docs.create_conflict
            )),
        )
        .response("422", problem("Invalid"));
    paths.add_path_operation(&collection, vec![HttpMethod::Post], create.build());

    let list = op("list")
        .parameter(project())
        .parameters(Some(PageQuery::into_params(|| Some(ParameterIn::Query))))
        .response("200", answer("One page", &page));
    paths.add_path_operation(&collection, vec![HttpMethod::Get], list.build());

    let get = op("get")
        .parameters(Some([project(), path_param("id", &id)]))
        .response("200", answer(&the, &kind))
        .response("404", problem(&no_such));
    paths.add_path_operation(&item, vec![HttpMethod::Get], get.build());

    let update = op("update")
        .parameters(Some([project(), path_param("id", &id), if_match()]))
        .request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json(&schema_name::<K::Update>()))
                .required(Some(Required::True))
                .build(),
        ))
        .response("200", answer(docs.updated, &kind))
        .response(
            "409",
            problem(&format!(
                "Another {name} of the project has the new name (`name-taken`)"
            )),
        )
        .response("412", problem("Stale If-Match"))
        .response("422", problem(docs.update_invalid));
    paths.add_path_operation(&item, vec![HttpMethod::Patch], update.build());

    let cascade = param(
        "cascade",
        ParameterIn::Query,
        Required::False,
        "true: delete what goes down with it too (a network's peerings); else their being \
         there answers 409 naming them",
        ObjectBuilder::new().schema_type(Type::Boolean),
    );
    let mut delete = op("delete")
        .parameters(Some([
            project(),
            path_param("id", &id),
            if_match(),
            cascade,
        ]))
        .response("202", answer("Deleting", &kind))
        .response("412", problem("Stale If-Match"));
    if let Some(conflict) = docs.delete_conflict {
        delete = delete.response("409", problem(conflict));
    }
    paths.add_path_operation(&item, vec![HttpMethod::Delete], delete.build());
}

fn schema_name<T: ToSchema>() -> String {
    <T as ToSchema>::name().into_owned()
}

/// A schema under its name, for the document's components.
fn named<T: ToSchema>() -> (String, RefOr<Schema>) {
    (schema_name::<T>(), <T as PartialSchema>::schema())
}

/// How the texts name one object of a kind: "Network id", "The network", "No such network".
struct Texts {
    id: String,
    the: String,
    no_such: String,
}

impl Texts {
    fn of(name: &str) -> Texts {
        let mut chars = name.chars();
        let capital = chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect::<String>())
            .unwrap_or_default();
        Texts {
            id: format!("{capital} id or name"),
            the: format!("The {name}"),
            no_such: format!("No such {name}"),
        }
    }
}

fn operation(id: &str, tag: &str) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .tag(tag)
        .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
}

/// `{ items: [<kind>], next_cursor: string | null }`.
fn page_schema(item: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .description(Some(
            "One page of a list: `next_cursor` is null on the last page.",
        ))
        .property(
            "items",
            ArrayBuilder::new().items(Ref::from_schema_name(item)),
        )
        .required("items")
        .property("next_cursor", nullable_string())
        .into()
}

fn nullable_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

fn json(schema: &str) -> Content {
    Content::new(Some(Ref::from_schema_name(schema)))
}

fn answer(description: &str, schema: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", json(schema))
        .build()
}

fn problem(description: &str) -> utoipa::openapi::Response {
    answer(description, "Problem")
}

fn path_param(name: &str, description: &str) -> Parameter {
    let schema = ObjectBuilder::new().schema_type(Type::String);
    param(name, ParameterIn::Path, Required::True, description, schema)
}

fn param(
    name: &str,
    place: ParameterIn,
    required: Required,
    description: &str,
    schema: ObjectBuilder,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(required)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn project() -> Parameter {
    path_param("p", "Project id")
}

fn header(name: &str, description: &str) -> Parameter {
    let schema = nullable_string();
    param(
        name,
        ParameterIn::Header,
        Required::False,
        description,
        schema,
    )
}

fn if_match() -> Parameter {
    header("If-Match", "Expected version (ETag)")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Routes that are not part of the API and so not in its document: the console's page
    /// and assets.
    const UNDOCUMENTED: &[(&str, &str)] = &[("GET", "/"), ("GET", "/console/{asset}")];

    fn documented() -> BTreeSet<(String, String)> {
        let mut ops = BTreeSet::new();
        for (path, item) in &document().paths.paths {
            let methods = [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("OPTIONS", &item.options),
                ("HEAD", &item.head),
                ("PATCH", &item.patch),
                ("TRACE", &item.trace),
            ];
            for (method, op) in methods {
                if op.is_some() {
                    ops.insert((method.to_string(), path.clone()));
                }
            }
        }
        ops
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_served() {
        let routes = super::super::routes();
        let mut served = BTreeSet::new();
        for (method, path) in routes.table() {
            assert!(
                served.insert((method.to_string(), path.clone())),
                "{method} {path} is routed twice"
            );
        }
        for (method, path) in UNDOCUMENTED {
            assert!(
                served.remove(&(method.to_string(), path.to_string())),
                "{method} {path} is listed as undocumented but not served"
            );
        }
        let documented = documented();
        let missing: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            missing.is_empty(),
            "routes missing from the document: {missing:?}"
        );
        assert!(
            unserved.is_empty(),
            "documented but not routed: {unserved:?}"
        );
    }

    #[test]
    fn every_registered_kind_has_its_five_operations_and_schemas() {
        let documented = documented();
        let schemas = &document().components.as_ref().unwrap().schemas;
        for kind in KINDS {
            let plural = kind.info().plural;
            let collection = format!("/v1/projects/{{p}}/{plural}");
            let item = format!("{collection}/{{id}}");
            for (method, path) in [
                ("POST", &collection),
                ("GET", &collection),
                ("GET", &item),
                ("PATCH", &item),
                ("DELETE", &item),
            ] {
                assert!(
                    documented.contains(&(method.to_string(), path.clone())),
                    "{method} {path}"
                );
            }
            let op = document().paths.paths[&collection].post.as_ref().unwrap();
            assert_eq!(op.tags.as_deref(), Some(&[plural.to_string()][..]));
            let body = op.request_body.as_ref().unwrap();
            let Some(RefOr::Ref(create)) = &body.content["application/json"].schema else {
                panic!("the create body of {plural} is not a named schema");
            };
            let create = create.ref_location.rsplit('/').next().unwrap();
            assert!(schemas.contains_key(create), "schema {create}");
        }
    }
}
