//! The whole expansion of `#[cache_aside]`, from the attribute's tokens to the output.

use quote::quote;

use super::cache_aside_impl;

fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
    cache_aside_impl(args, item).to_string()
}

#[test]
fn on_errors_emits_every_error_and_the_function_unchanged() {
    let item = quote!(
        const fn get(id: u32) -> DbResult<u32> {
            Ok(id)
        }
    );
    let output = expand(quote!(ttl = "1y", colour = 3), item.clone());
    assert!(output.ends_with(&item.to_string()), "{output}");
    assert_eq!(output.matches("compile_error").count(), 5, "{output}");
    for message in [
        "invalid ttl",
        "unknown option `colour`",
        "a `const fn` cannot be cached",
        "missing `set`",
        "add `returns = result`",
    ] {
        assert!(output.contains(message), "{message} in {output}");
    }
}

#[test]
fn keeps_an_unparsable_body_verbatim() {
    let item = quote!(async fn get(id: u32) -> u32 { id + });
    let output = expand(quote!(set = "s"), item);
    assert!(!output.contains("compile_error"), "{output}");
    assert!(output.contains("{ id + }"), "{output}");
}

#[test]
fn generates_companions_unless_turned_off() {
    let item = quote!(
        async fn get(id: u32) -> u32 {
            id
        }
    );
    let with = expand(quote!(set = "s"), item.clone());
    for companion in ["get_invalidate", "get_refresh", "get_uncached", "get_peek"] {
        assert!(with.contains(companion), "{companion} in {with}");
    }
    let without = expand(quote!(set = "s", companions = false), item);
    assert!(
        !without.contains("get_invalidate") && !without.contains("get_refresh"),
        "{without}"
    );
    assert!(!without.contains("__cacheaside_load_get"), "{without}");
}

#[test]
fn invalidate_takes_the_arguments_the_key_expression_names() {
    let item = quote!(
        async fn get(tenant: &str, id: i64, verbose: bool) -> u32 {
            0
        }
    );
    let output = expand(quote!(set = "s", key = format!("{tenant}:{}", id)), item);
    let invalidate = &output[output.find("fn get_invalidate").expect("companion")..];
    let params = &invalidate[..invalidate.find(") ->").expect("signature")];
    assert!(
        params.contains("tenant") && params.contains("id"),
        "{params}"
    );
    assert!(!params.contains("verbose"), "{params}");
}

#[test]
fn an_annotated_trait_impl_moves_the_companions_to_an_inherent_impl() {
    let output = expand(
        quote!(),
        quote!(
            impl<T: Clone> Store for Repo<T>
            where
                T: Send,
            {
                #[cache_aside(set = "s")]
                async fn get(&self, id: u32) -> u32 {
                    id
                }
                fn other(&self) {}
            }
        ),
    );
    let inherent = output
        .find("impl < T : Clone > Repo < T > where T : Send")
        .expect("an inherent impl with the same generics");
    let (trait_impl, inherent) = output.split_at(inherent);
    assert!(
        trait_impl.contains("fn get") && trait_impl.contains("fn other"),
        "{output}"
    );
    assert!(!trait_impl.contains("get_invalidate"), "{output}");
    for item in [
        "pub async fn get_invalidate",
        "pub async fn get_refresh",
        "pub async fn get_uncached",
        "pub async fn get_peek",
        "__cacheaside_load_get",
    ] {
        assert!(inherent.contains(item), "{item} in {inherent}");
    }
    assert!(!output.contains("compile_error"), "{output}");
}

#[test]
fn an_annotated_inherent_impl_keeps_everything_in_the_block() {
    let output = expand(
        quote!(),
        quote!(
            impl Repo {
                #[cacheaside::cache_aside(set = "s")]
                fn count(name: &str) -> usize {
                    name.len()
                }
            }
        ),
    );
    assert_eq!(output.matches("impl Repo").count(), 1, "{output}");
    assert!(
        output.contains("Self :: __cacheaside_load_count"),
        "{output}"
    );
    assert!(output.contains("fn count_invalidate"), "{output}");
}

#[test]
fn freshness_options_pick_the_runtime_entry_point_and_kind() {
    let item = quote!(
        async fn find(id: u32) -> Option<u32> {
            None
        }
    );
    let plain = expand(quote!(set = "s", ttl = 60), item.clone());
    assert!(plain.contains("get_or_load_with ("), "{plain}");
    assert!(!plain.contains("cache_none"), "{plain}");
    let fresh = expand(
        quote!(set = "s", ttl = 60, none_ttl = "5s", refresh_ahead = 0.2),
        item,
    );
    assert!(fresh.contains("get_or_load_refreshing ("), "{fresh}");
    assert!(fresh.contains(". cache_none ()"), "{fresh}");
    assert!(fresh.contains("NegativeOptionKind"), "{fresh}");
    assert!(fresh.contains("refresh_ahead_permille : 200u16"), "{fresh}");
    assert!(fresh.contains("Ttl :: Seconds (5u32)"), "{fresh}");
    let soft = expand(
        quote!(
            set = "s",
            ttl = 60,
            stale_if_error = "10m",
            soft_timeout = "250ms"
        ),
        quote!(
            async fn find(id: u32) -> Result<u32, String> {
                Ok(id)
            }
        ),
    );
    assert!(soft.contains("get_or_load_refreshing ("), "{soft}");
    assert!(soft.contains("soft_timeout_ms : 250u32"), "{soft}");
    assert!(soft.contains("refresh_ahead_permille : 0u16"), "{soft}");
}

#[test]
fn sync_functions_call_the_blocking_runtime() {
    let output = expand(
        quote!(set = "s"),
        quote!(
            fn get(id: u32) -> u32 {
                id
            }
        ),
    );
    for call in [
        "get_or_load_with_blocking",
        "refresh_with_blocking",
        "invalidate_blocking",
        "peek_blocking",
    ] {
        assert!(output.contains(call), "{call} in {output}");
    }
    assert!(!output.contains(". await"), "{output}");
}

mod batch {
    use quote::quote;

    fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
        crate::cache_aside_impl(args, item).to_string()
    }

    fn errors(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> Vec<String> {
        let output = expand(args, item);
        output
            .split("compile_error ! {")
            .skip(1)
            .map(|rest| {
                rest[..rest.find('}').unwrap_or(rest.len())]
                    .trim()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn a_map_keyed_by_references_is_refused_at_its_key() {
        let item = quote!(
            async fn f<'a>(names: &[&'a str]) -> Result<HashMap<&'a str, u8>, E> {}
        );
        let found = errors(quote!(set = "s", batch), item);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("key it by `String`"), "{found:?}");
        let item = quote!(
            fn f(ids: &[u64]) -> BTreeMap<&'static u64, u8> {}
        );
        let found = errors(quote!(set = "s", batch), item);
        assert!(found[0].contains("key it by `u64`"), "{found:?}");
        let owned = quote!(
            async fn f(names: &[&str]) -> Option<HashMap<String, u8>> {}
        );
        assert!(errors(quote!(set = "s", batch), owned).is_empty());
    }

    #[test]
    fn the_wrapper_reads_in_one_batch_and_loads_the_missing_ids() {
        let output = expand(
            quote!(set = "users", ttl = 60, batch, skip(db)),
            quote!(
                async fn get_users(db: &Db, ids: &[u64]) -> Result<HashMap<u64, User>, E> {
                    db.load(ids)
                }
            ),
        );
        assert!(!output.contains("compile_error"), "{output}");
        for part in [
            "let __cacheaside_ids = :: cacheaside :: __private :: IdsArg (ids) . batch_ids () ;",
            "BatchParts (__cacheaside_kind , & __cacheaside_ids) . join ()",
            "batch_lookup (& __CACHEASIDE_SPEC , & __cacheaside_call) . await",
            "let ids = & :: cacheaside :: __private :: rebuild_ids (& __cacheaside_call , __cacheaside_missing)",
            "__cacheaside_load_get_users (db , ids) . await",
            "BatchLookup :: store (__cacheaside_batch , __cacheaside_returned) . await",
            "async fn get_users_uncached (db : & Db , ids : & [u64])",
            "async fn get_users_invalidate (ids : & [u64])",
            "invalidate_batch (& __CACHEASIDE_SPEC , & __cacheaside_ids) . await",
        ] {
            assert!(output.contains(part), "{part} in {output}");
        }
        for absent in ["get_users_refresh", "get_users_peek", "default_key"] {
            assert!(!output.contains(absent), "{absent} in {output}");
        }
    }

    #[test]
    fn owned_ids_are_borrowed_for_the_lookup_and_rebuilt_owned() {
        let output = expand(
            quote!(set = "users", batch),
            quote!(
                fn get_users(ids: Vec<u64>) -> HashMap<u64, User> {
                    load(ids)
                }
            ),
        );
        assert!(!output.contains("compile_error"), "{output}");
        for part in [
            "IdsArg (& ids) . batch_ids () ;",
            "batch_lookup_blocking (& __CACHEASIDE_SPEC , & __cacheaside_call)",
            "let ids = :: cacheaside :: __private :: rebuild_ids (& __cacheaside_call , __cacheaside_missing)",
            "store_blocking",
            "invalidate_batch_blocking",
        ] {
            assert!(output.contains(part), "{part} in {output}");
        }
        assert!(!output.contains(". await"), "{output}");
    }

    #[test]
    fn options_that_make_no_sense_with_batch_are_rejected() {
        let found = errors(
            quote!(
                set = "users",
                ttl = 60,
                batch,
                key = id,
                none_ttl = "5s",
                refresh_ahead = 0.2,
                stale_if_error = "1m",
                touch_on_read,
                local(ttl = "5s"),
                companions = false
            ),
            quote!(
                async fn get_users(ids: Vec<u64>) -> Option<HashMap<u64, User>> {
                    None
                }
            ),
        );
        // The eighth: `stale_if_error` needs a `Result` anyway.
        assert_eq!(found.len(), 8, "{found:#?}");
        assert!(found[0].contains("`key = …` cannot be combined with `batch`"));
        for (message, option) in found[1..6].iter().zip([
            "none_ttl",
            "refresh_ahead",
            "stale_if_error",
            "touch_on_read",
            "local",
        ]) {
            assert!(
                message.contains(&format!("`{option}` cannot be combined with `batch`")),
                "{message}"
            );
        }
        assert!(found[6].contains("`companions = false`"), "{}", found[6]);
    }

    #[test]
    fn the_ids_must_be_the_one_argument_not_skipped() {
        let found = errors(
            quote!(set = "users", batch),
            quote!(
                async fn get_users(db: &Db, ids: &[u64]) -> HashMap<u64, User> {
                    load()
                }
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("add `db` to `skip(…)`"), "{}", found[0]);
        let found = errors(
            quote!(set = "users", batch),
            quote!(
                async fn get_users(tenant: u32, region: u32) -> HashMap<u64, User> {
                    load()
                }
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("but `tenant`, `region` are not skipped"),
            "{}",
            found[0]
        );
        let found = errors(
            quote!(set = "users", batch, skip(ids)),
            quote!(
                async fn get_users(ids: &[u64]) -> HashMap<u64, User> {
                    load()
                }
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("needs an argument with the ids"),
            "{}",
            found[0]
        );
        assert!(found[0].contains("must not be in `skip"), "{}", found[0]);
        let found = errors(
            quote!(set = "users", batch),
            quote!(
                async fn get_users(ids: impl IntoIterator<Item = u64>) -> HashMap<u64, User> {
                    load()
                }
            ),
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("`impl Trait` cannot name"),
            "{}",
            found[0]
        );
    }
}

#[test]
fn codecs_are_named_through_the_runtime_and_unknown_ones_listed() {
    let item = quote!(
        async fn get(id: u32) -> u32 {
            id
        }
    );
    let output = expand(quote!(set = "s"), item.clone());
    assert!(
        output.contains("codec : :: cacheaside :: __private :: Codec :: MessagePack"),
        "{output}"
    );
    let output = expand(quote!(set = "s", codec = "msgpack"), item.clone());
    assert!(output.contains("Codec :: MessagePack"), "{output}");
    for (name, named) in [
        ("bincode", "codec_bincode ! ()"),
        ("postcard", "codec_postcard ! ()"),
        ("json", "codec_json ! ()"),
    ] {
        let output = expand(quote!(set = "s", codec = #name), item.clone());
        assert!(!output.contains("compile_error"), "{output}");
        assert!(output.contains(named), "{name}: {output}");
    }
    let output = expand(quote!(set = "s", codec = "cbor"), item.clone());
    assert!(
        output.contains(
            "unknown codec `cbor`; valid codecs are `\\\"msgpack\\\"`, `\\\"bincode\\\"`, `\\\"postcard\\\"`, `\\\"json\\\"`"
        ),
        "{output}"
    );
    let output = expand(quote!(set = "s", codec = bincode), item);
    assert!(
        output.contains("`codec` takes a string literal"),
        "{output}"
    );
}
