//! The `Idempotency-Key` header in the OpenAPI document, written from `ROUTES`.

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::Required;
use utoipa::Modify;

use super::ROUTES;

/// Documents the `Idempotency-Key` header on each of `ROUTES`, and only there: the
/// table that decides which routes honour a key is the one that says so.
pub struct KeyParameter;

impl Modify for KeyParameter {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (method, path, _) in ROUTES {
            let Some(item) = openapi.paths.paths.get_mut(path) else {
                continue;
            };
            let operation = match method {
                "POST" => item.post.as_mut(),
                "PATCH" => item.patch.as_mut(),
                "PUT" => item.put.as_mut(),
                "DELETE" => item.delete.as_mut(),
                _ => None,
            };
            if let Some(operation) = operation {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(key_parameter());
            }
        }
    }
}

fn key_parameter() -> Parameter {
    let schema = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some("^[!-~]+$"));
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .description(Some(
            "Optional, 1 to 255 printable ASCII characters, one per request: a repeat \
             within 24 h gets the first answer (Idempotent-Replayed: true) without the \
             work being done again",
        ))
        .required(Required::False)
        .schema(Some(schema))
        .build()
}
