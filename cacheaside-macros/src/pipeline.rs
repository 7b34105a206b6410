//! One annotated function from tokens to tokens: parse, check, emit; or, on any error, every error
//! followed by the function unchanged.

use proc_macro2::TokenStream;

use crate::check::plan::Context;
use crate::emit::Expansion;
use crate::errors::{errors_and_original, Errors};
use crate::parse::item::CachedFn;
use crate::parse::put_evict::Which;
use crate::{check, emit, parse};

/// Expands one function annotated with `#[cache_aside]`, or returns its errors followed by the
/// function unchanged.
pub fn cache_aside(
    args: TokenStream,
    item: TokenStream,
    context: Context,
) -> Result<Expansion, TokenStream> {
    let mut errors = Errors::default();
    let options = parse::cache_aside::parse(args, &mut errors);
    let check = |function, errors: &mut Errors| {
        check::cache_aside::check(function, options, context, errors)
    };
    check_and_emit(item, errors, check, emit::expand_parts)
}

/// Expands one function annotated with `#[cache_put]` or `#[cache_evict]`, or returns its errors
/// followed by the function unchanged.
pub fn put_evict(which: Which, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let options = parse::put_evict::parse(which, args, &mut errors);
    parse::put_evict::reject_foreign(which, &options, &mut errors);
    let check =
        |function, errors: &mut Errors| check::put_evict::check(which, function, options, errors);
    check_and_emit(item, errors, check, emit::put_evict::emit).unwrap_or_else(|error| error)
}

/// Reads the function and checks it with the options already read (their errors are in
/// `errors`); emits the plan when nothing went wrong, else returns every error followed by the
/// function unchanged.
fn check_and_emit<Plan, Output>(
    item: TokenStream,
    mut errors: Errors,
    check: impl FnOnce(CachedFn, &mut Errors) -> Option<Plan>,
    emit: impl FnOnce(&Plan) -> Output,
) -> Result<Output, TokenStream> {
    let plan = match syn::parse2::<CachedFn>(item.clone()) {
        Ok(function) => check(function, &mut errors),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    match (errors.into_error(), plan) {
        (None, Some(plan)) => Ok(emit(&plan)),
        (Some(error), _) => Err(errors_and_original(error, item)),
        // `check` returns no plan only after recording an error.
        (None, None) => Err(item),
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;
    use crate::parse::put_evict::Which;

    use super::put_evict as expand;

    fn expand_put(args: TokenStream, item: TokenStream) -> String {
        expand(Which::Put, args, item).to_string()
    }

    fn expand_evict(args: TokenStream, item: TokenStream) -> String {
        expand(Which::Evict, args, item).to_string()
    }

    #[test]
    fn a_put_writes_the_returned_value_after_the_body() {
        let output = expand_put(
            quote!(set = "users", key = user.id, ttl = "1h"),
            quote!(
                async fn save(db: &Db, user: User) -> Result<User, DbError> {
                    db.save(user).await
                }
            ),
        );
        assert!(!output.contains("compile_error"), "{output}");
        let key = output.find("explicit_key (user . id)").expect("key");
        let body = output.find("db . save (user)").expect("body");
        let put = output.find("cache_put (").expect("put");
        assert!(key < body && body < put, "{output}");
        assert!(output.contains("put_returned ("), "{output}");
        assert!(output.contains("Ttl :: Seconds (3600u32)"), "{output}");
        assert!(output.contains("result_kind"), "checked kind: {output}");
        assert!(output.contains(". await"), "{output}");
    }

    #[test]
    fn a_put_with_value_encodes_it_before_the_body() {
        let output = expand_put(
            quote!(set = "users", key = user.id, value = &user),
            quote!(
                fn save(db: &Db, user: User) -> Result<(), DbError> {
                    db.save(user)
                }
            ),
        );
        assert!(!output.contains("compile_error"), "{output}");
        let value = output
            .find("put_value (& __CACHEASIDE_SPEC , & (user))")
            .expect("value, unreferenced");
        let body = output.find("db . save (user)").expect("body");
        assert!(value < body, "{output}");
        assert!(output.contains("put_value_if :: <"), "{output}");
        assert!(output.contains("cache_put_blocking ("), "{output}");
        assert!(!output.contains(". await"), "{output}");
        assert!(!output.contains("result_kind"), "unchecked kind: {output}");
    }

    #[test]
    fn an_evict_removes_after_success_or_before_and_after() {
        let item = quote!(
            async fn delete(id: u64) -> Result<(), DbError> {
                Ok(())
            }
        );
        let after = expand_evict(quote!(set = "users", key = id), item.clone());
        assert!(!after.contains("compile_error"), "{after}");
        assert_eq!(after.matches("cache_evict (").count(), 1, "{after}");
        assert!(
            after.contains("if :: cacheaside :: __private :: succeeded"),
            "{after}"
        );
        let both = expand_evict(quote!(set = "users", key = id, before = true), item.clone());
        assert_eq!(both.matches("cache_evict (").count(), 2, "{both}");
        assert!(!both.contains("succeeded"), "{both}");
        let all = expand_evict(quote!(set = "users", all = true), item);
        assert!(
            all.contains("cache_evict_all (& __CACHEASIDE_SPEC ,)"),
            "{all}"
        );
        assert!(!all.contains("explicit_key"), "{all}");
    }

    #[test]
    fn keeps_the_signature_and_any_receiver() {
        let output = expand_put(
            quote!(set = "s", key = id),
            quote!(
                pub(crate) async fn rename<'a>(
                    &mut self,
                    id: u64,
                    name: &'a str,
                ) -> Option<String> {
                    self.names.insert(id, name.to_owned())
                }
            ),
        );
        assert!(!output.contains("compile_error"), "{output}");
        assert!(
            output.starts_with(
                "pub (crate) async fn rename < 'a > (& mut self , id : u64 , name : & 'a str"
            ) && output.contains("-> Option < String > {"),
            "{output}"
        );
    }

    fn errors_of(which: Which, args: TokenStream, item: TokenStream) -> Vec<String> {
        let output = expand(which, args, item.clone()).to_string();
        if output.contains("compile_error") {
            assert!(
                output.ends_with(&item.to_string()),
                "the function unchanged: {output}"
            );
        }
        output
            .split("compile_error ! {")
            .skip(1)
            .map(|part| part[..part.find('}').unwrap_or(part.len())].to_owned())
            .collect()
    }

    #[test]
    fn reports_every_misuse_at_once() {
        let found = errors_of(
            Which::Put,
            quote!(ttl = "1y"),
            quote!(
                const fn save(id: u64) {}
            ),
        );
        assert_eq!(found.len(), 5, "{found:#?}");
        for (message, expected) in found.iter().zip([
            "invalid ttl",
            "a `const fn` cannot write",
            "missing `set`",
            "missing `key`: add `key = <expr>` equal to the reader's `key = …`",
            "returns no value to cache; add `value = <expr>`",
        ]) {
            assert!(message.contains(expected), "{expected} in {message}");
        }
        let found = errors_of(
            Which::Evict,
            quote!(set = "s", all = true, key = id),
            quote!(
                fn delete(id: u64) {}
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("`all = true` empties the whole set, so it takes no `key`"));
        let found = errors_of(
            Which::Evict,
            quote!(set = "s"),
            quote!(
                fn delete(id: u64) {}
            ),
        );
        assert!(found[0].contains("or write `all = true`"), "{found:#?}");
    }

    #[test]
    fn a_put_of_an_empty_success_asks_for_value() {
        for item in [
            quote!(
                fn save(id: u64) -> Result<(), E> {
                    Ok(())
                }
            ),
            quote!(
                fn save(id: u64) -> Option<()> {
                    None
                }
            ),
            quote!(
                fn save(id: u64) -> () {}
            ),
        ] {
            let found = errors_of(Which::Put, quote!(set = "s", key = id), item);
            assert_eq!(found.len(), 1, "{found:#?}");
            assert!(found[0].contains("add `value = <expr>`"), "{found:#?}");
        }
        let evict = errors_of(
            Which::Evict,
            quote!(set = "s", key = id),
            quote!(
                fn delete(id: u64) -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(evict.is_empty(), "{evict:#?}");
    }
}
