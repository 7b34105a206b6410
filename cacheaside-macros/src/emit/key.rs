//! The key of a call: `key = <expr>`, or the default key of the function's path and its key
//! arguments, once per combination of `#[cfg]`-gated arguments.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, ToTokens};
use syn::punctuated::Punctuated;
use syn::{FnArg, GenericParam, Generics, Token};

use crate::check::plan::{Context, KeyPlan, Plan};
use crate::emit::loader::hidden;
use crate::emit::names::Names;
use crate::emit::signature::{copied_attrs, prune_generics, turbofish, type_and_const_params};
use crate::parse::item::mentions;

/// One combination of `#[cfg]`-gated arguments: the `#[cfg(…)]` under which it is the one
/// compiled (empty when no argument is gated), and which arguments are present.
pub struct Variant {
    pub cfg: TokenStream,
    pub present: Vec<bool>,
}

/// Every combination of the gated arguments. A call cannot gate its arguments with `#[cfg]`, so
/// each combination gets its own `let` statements of key and loader call.
pub fn variants(plan: &Plan) -> Vec<Variant> {
    let gated: Vec<(usize, TokenStream)> = (plan.inputs.params.iter().enumerate())
        .filter_map(|(index, param)| param.cfg().map(|cfg| (index, cfg)))
        .collect();
    let count = plan.inputs.params.len();
    if gated.is_empty() {
        return vec![Variant {
            cfg: TokenStream::new(),
            present: vec![true; count],
        }];
    }
    (0..1u32 << gated.len())
        .map(|mask| {
            let mut present = vec![true; count];
            let mut conditions = Vec::new();
            for (bit, (index, predicate)) in gated.iter().enumerate() {
                if mask & (1 << bit) == 0 {
                    present[*index] = false;
                    conditions.push(quote!(not(#predicate)));
                } else {
                    conditions.push(predicate.clone());
                }
            }
            Variant {
                cfg: quote!(#[cfg(all(#(#conditions),*))]),
                present,
            }
        })
        .collect()
}

/// The key of a call. Each default-key argument goes through the facade's `KeyPart::key_part`,
/// spanned on the argument, so an argument that cannot be serialized is reported there with a hint
/// to `skip` it.
pub fn key_expr(plan: &Plan, names: &Names, present: &[bool]) -> TokenStream {
    let krate = &plan.krate;
    match &plan.key {
        KeyPlan::Explicit { expr, .. } => {
            let span = syn::spanned::Spanned::span(expr);
            quote::quote_spanned!(span=> #krate::__private::explicit_key(#expr))
        }
        KeyPlan::Default { args } => {
            let path = key_path(plan, names, args, present);
            let parts = default_key_parts(plan, args, present);
            quote!(#krate::__private::default_key_at(#path, &(#(#parts,)*)))
        }
    }
}

/// `let` statements that bind `key` to what a local tier looks up: the key of `key = <expr>`, or
/// the parts of the default key (its arguments in `key_args`), not yet built.
pub fn key_probe(plan: &Plan, names: &Names, variant: &Variant) -> TokenStream {
    let krate = &plan.krate;
    let Names { key, key_args, .. } = names;
    let cfg = &variant.cfg;
    match &plan.key {
        KeyPlan::Explicit { .. } => {
            let key_expr = key_expr(plan, names, &variant.present);
            quote!(#cfg let #key = #key_expr;)
        }
        KeyPlan::Default { args } => {
            let path = key_path(plan, names, args, &variant.present);
            let parts = default_key_parts(plan, args, &variant.present);
            quote! {
                #cfg let #key_args = (#(#parts,)*);
                #cfg let #key = #krate::__private::default_key_parts(#path, &#key_args);
            }
        }
    }
}

/// The default key's parts, one per present key argument. Each goes through `key_part`, spanned
/// on the argument, so an argument that cannot be serialized is reported there with a hint to
/// `skip` it.
pub fn default_key_parts(plan: &Plan, args: &[usize], present: &[bool]) -> Vec<TokenStream> {
    let krate = &plan.krate;
    (args.iter())
        .filter(|&&index| present[index])
        .map(|&index| {
            let param = &plan.inputs.params[index];
            let binding = &param.binding;
            let span = syn::spanned::Spanned::span(&param.pat);
            // Spanned on the argument: a key argument that is not serializable is reported
            // there, once (see the runtime's `__private::checks`).
            let method = Ident::new("key_part", span);
            quote::quote_spanned!(span=> #krate::__private::KeyPart(&#binding).#method())
        })
        .collect()
}

/// The `KeyPath` of a call's default key: the full path of the function, with the type and const
/// arguments the key depends on, as the compiler names it (see the runtime's `KeyPath`).
///
/// With companions, every generated function (the wrapper, `<fn>_invalidate`, `<fn>_peek`, …)
/// asks the one hidden function of [`path_function`], so that they agree on the key, including
/// when `<fn>_invalidate` has fewer generic parameters than the wrapper. Without companions (a
/// trait impl), the wrapper reads the type name of a closure of its own: the path of the method
/// with every generic argument of the method and of its impl.
pub fn key_path(plan: &Plan, names: &Names, args: &[usize], present: &[bool]) -> TokenStream {
    let krate = &plan.krate;
    if !plan.companions {
        return quote! {
            #krate::__private::KeyPath::of_closure(::core::any::type_name_of_val(&|| ()))
        };
    }
    let function = hidden(plan, &names.path);
    let generics = path_generics(plan, args);
    let turbofish = turbofish(&generics);
    let impl_args = (impl_trait_key_args(plan, args).into_iter())
        .filter(|&index| present[index])
        .map(|index| &plan.inputs.params[index].binding);
    quote!(#function #turbofish(#(&#impl_args),*))
}

/// The key arguments whose type has an `impl Trait`: their concrete types are type arguments of
/// the key (the anonymous type parameters of the function).
fn impl_trait_key_args(plan: &Plan, args: &[usize]) -> Vec<usize> {
    let impl_token = Ident::new("impl", Span::call_site());
    (args.iter().copied())
        .filter(|&index| mentions(&plan.inputs.params[index].ty, &impl_token))
        .collect()
}

/// The names of the type and const parameters that the default key includes: every one except
/// those that only skipped arguments use (`db: &D` with `skip(db)`), which do not change the
/// value, and which `<fn>_invalidate` could not name, since it takes only the key arguments.
fn key_generic_params(plan: &Plan) -> Vec<Ident> {
    let KeyPlan::Default { args } = &plan.key else {
        return Vec::new();
    };
    let mut key_side = plan.function.sig.output.to_token_stream();
    let mut skipped_side = TokenStream::new();
    for (index, param) in plan.inputs.params.iter().enumerate() {
        if args.contains(&index) {
            param.ty.to_tokens(&mut key_side);
        } else {
            param.ty.to_tokens(&mut skipped_side);
        }
    }
    type_and_const_params(&plan.function.sig.generics)
        .filter(|ident| mentions(&key_side, ident) || !mentions(&skipped_side, ident))
        .cloned()
        .collect()
}

/// What a companion's generic parameters must keep for its key: the identifiers of `key =
/// <expr>`, or the generic parameters of the default key.
pub fn key_uses(plan: &Plan) -> TokenStream {
    match &plan.key {
        KeyPlan::Explicit { expr, .. } => expr.to_token_stream(),
        KeyPlan::Default { .. } => {
            let params = key_generic_params(plan);
            quote!(#(#params)*)
        }
    }
}

/// The arguments of the hidden path function: a reference to each `impl Trait` key argument.
fn path_inputs(plan: &Plan, args: &[usize]) -> Punctuated<FnArg, Token![,]> {
    (impl_trait_key_args(plan, args).into_iter())
        .map(|index| {
            let param = &plan.inputs.params[index];
            let ty = &param.ty;
            let cfg = param.cfg().map(|predicate| quote!(#[cfg(#predicate)]));
            // In parentheses: `&impl A + B` would not parse.
            let input: FnArg = syn::parse_quote!(#cfg _: &(#ty));
            input
        })
        .collect()
}

/// The generic parameters of the hidden path function: those of the default key, and what their
/// bounds and the `impl Trait` arguments need.
fn path_generics(plan: &Plan, args: &[usize]) -> Generics {
    prune_generics(
        &plan.function.sig.generics,
        &path_inputs(plan, args),
        &key_uses(plan),
    )
}

/// The hidden function that gives the default key's `KeyPath`: the type name of a closure in it
/// is the function's path, followed by its generic arguments, which are those of the key (see
/// [`key_generic_params`]), the concrete types of `impl Trait` key arguments and those of the
/// `impl` it is in. Without any of them (a free function that is not generic) the path is
/// worked out once and kept in a `static`; a `static` inside a generic function would be shared
/// by all its instantiations, so a generic one reads the type name (a constant) on each call.
pub fn path_function(plan: &Plan, names: &Names) -> TokenStream {
    let KeyPlan::Default { args } = &plan.key else {
        return TokenStream::new();
    };
    let krate = &plan.krate;
    let ident = &names.path;
    let inputs = path_inputs(plan, args);
    let generics = path_generics(plan, args);
    let where_clause = &generics.where_clause;
    let in_impl = plan.inputs.receiver.is_some() || matches!(plan.context, Context::InImpl { .. });
    let generic = generics
        .params
        .iter()
        .any(|param| !matches!(param, GenericParam::Lifetime(_)));
    let body = if in_impl || generic || !inputs.is_empty() {
        quote!(#krate::__private::KeyPath::of_closure(::core::any::type_name_of_val(&|| ())))
    } else {
        let cell = Ident::new("__CACHEASIDE_PATH", Span::mixed_site());
        quote! {
            static #cell: #krate::__private::KeyPathCell = #krate::__private::KeyPathCell::new();
            #cell.get(|| ::core::any::type_name_of_val(&|| ()))
        }
    };
    let attrs = copied_attrs(plan);
    quote! {
        #[doc(hidden)]
        #attrs
        #[inline]
        #[allow(unused_parens, clippy::extra_unused_type_parameters)]
        fn #ident #generics(#inputs) -> #krate::__private::KeyPath #where_clause {
            #body
        }
    }
}
