//! `#[derive(Trace)]` for `morph-gengc`.
//!
//! For a struct or enum it generates an `unsafe impl Trace` that traces every
//! field (each field type must implement `Trace`, which is how a missed
//! reference becomes a compile error instead of a dangling pointer), and it
//! makes a `Drop` impl on the type a compile error: a destructor could move a
//! `Member` out of a dead object. Clean-up code goes in a `Finalize` impl,
//! enabled with `#[trace(finalize)]`; fields are still dropped normally.
//! The generated code names the collector's crate: `::morph_gengc` for the
//! derive `morph_gengc` exports, `::morph_mem::gc` for the one the
//! `morph-mem` facade exports (the same macro with another default path),
//! so neither needs an attribute. Through any other re-export, name the
//! path: `#[trace(crate = "my_runtime::gc")]`.
//!
//! With `#[trace(init)]` on a struct or enum, it also generates the type's
//! *initializer*, `{Name}Init`: the same fields and variants, except that a
//! `Member<T>` field becomes `Option<&dyn Handle<'gc, T>>` (a `Root` or a
//! `Local` to point at, or `None`), and a `Tagged` field a `TaggedInit` (an
//! immediate, or a `TaggedRoot` to take the value from). `Mutator::alloc_init` allocates the
//! object from it in one expression, sound even though the allocation may
//! collect: the handles find their objects after it, and each member is
//! then set through `Member::set`, with its checks and barrier. The
//! generated code is safe code over the public API.
//!
//! Use it through `morph_gengc::Trace` or `morph_mem::gc::Trace`; this crate
//! is an implementation detail.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, parse_macro_input};

/// Derives `morph_gengc::Trace`. See the crate docs.
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    derive(input, quote!(::morph_gengc))
}

/// Derives `morph_gengc::Trace` naming the collector as `::morph_mem::gc`:
/// the derive the `morph-mem` facade re-exports as `Trace`.
#[doc(hidden)]
#[proc_macro_derive(TraceThroughFacade, attributes(trace))]
pub fn derive_trace_through_facade(input: TokenStream) -> TokenStream {
    derive(input, quote!(::morph_mem::gc))
}

fn derive(input: TokenStream, default_crate: TokenStream2) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input, default_crate) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// The `#[trace(...)]` options.
struct Options {
    /// `finalize`: the type implements `Finalize`.
    finalize: bool,
    /// `init`: generate the `{Name}Init` initializer.
    init: bool,
    /// `crate = "path"`: where the collector is when it is used through
    /// another re-export (for example `#[trace(crate = "my_runtime::gc")]`);
    /// the derive's default otherwise.
    krate: TokenStream2,
}

fn options(input: &DeriveInput, default_crate: TokenStream2) -> syn::Result<Options> {
    let mut finalize = false;
    let mut init = false;
    let mut krate = default_crate;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("trace")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("finalize") {
                finalize = true;
                Ok(())
            } else if meta.path.is_ident("init") {
                init = true;
                Ok(())
            } else if meta.path.is_ident("crate") {
                let path: syn::LitStr = meta.value()?.parse()?;
                let path: syn::Path = path.parse()?;
                krate = quote!(#path);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown trace option; expected `finalize`, `init` or `crate = \"path\"`",
                ))
            }
        })?;
    }
    Ok(Options {
        finalize,
        init,
        krate,
    })
}

/// Bindings for a variant's fields and the pattern that binds them.
fn bind(fields: &Fields) -> (TokenStream2, Vec<syn::Ident>) {
    let names: Vec<_> = (0..fields.len())
        .map(|i| format_ident!("__field{}", i))
        .collect();
    let pattern = match fields {
        Fields::Named(named) => {
            let idents = named
                .named
                .iter()
                .map(|f| f.ident.as_ref().expect("named field"));
            quote!({ #(#idents: #names),* })
        }
        Fields::Unnamed(_) => quote!(( #(#names),* )),
        Fields::Unit => quote!(),
    };
    (pattern, names)
}

fn expand(input: &DeriveInput, default_crate: TokenStream2) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let Options {
        finalize,
        init,
        krate,
    } = options(input, default_crate)?;

    let mut field_types = Vec::new();
    let body = match &input.data {
        Data::Struct(data) => {
            field_types.extend(data.fields.iter().map(|f| f.ty.clone()));
            let (pattern, names) = bind(&data.fields);
            quote! {
                let #name #pattern = self;
                #( #krate::Trace::trace(#names, __tracer); )*
            }
        }
        Data::Enum(data) => {
            let arms = data.variants.iter().map(|variant| {
                field_types.extend(variant.fields.iter().map(|f| f.ty.clone()));
                let ident = &variant.ident;
                let (pattern, names) = bind(&variant.fields);
                quote! { #name::#ident #pattern => { #( #krate::Trace::trace(#names, __tracer); )* } }
            });
            quote! {
                #[allow(unreachable_patterns)]
                match self { #(#arms)* }
            }
        }
        Data::Union(_) => {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "Trace cannot be derived for unions: the collector cannot know which field is live",
            ));
        }
    };

    let mut generics = input.generics.clone();
    {
        let where_clause = generics.make_where_clause();
        for ty in &field_types {
            where_clause
                .predicates
                .push(syn::parse_quote!(#ty: #krate::Trace));
        }
    }
    outlive(&mut generics, quote!('static));
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let has_references = if field_types.is_empty() {
        quote!(false)
    } else {
        quote!(#( <#field_types as #krate::Trace>::HAS_REFERENCES )||*)
    };
    let has_weak = if field_types.is_empty() {
        quote!(false)
    } else {
        quote!(#( <#field_types as #krate::Trace>::HAS_WEAK )||*)
    };
    let finalize_items = if finalize {
        quote! {
            const NEEDS_FINALIZE: bool = true;
            fn finalize(&self) { <Self as #krate::Finalize>::finalize(self) }
        }
    } else {
        quote!()
    };

    let initializer = if init {
        initializer(input, &krate)?
    } else {
        quote!()
    };

    // The same trick as pin-project: a local trait implemented for every
    // `Drop` type and for this one conflicts exactly when this type is `Drop`.
    let (drop_impl_generics, drop_ty_generics, drop_where) = input.generics.split_for_impl();
    Ok(quote! {
        #initializer

        // SAFETY: every field is traced, and the type has no Drop impl that
        // could move a member out (checked below).
        unsafe impl #impl_generics #krate::Trace for #name #ty_generics #where_clause {
            const HAS_REFERENCES: bool = #has_references;
            const HAS_WEAK: bool = #has_weak;
            #finalize_items
            // Always inlined: the collector instantiates `trace` once per
            // type inside its scan loop, and a call there per object
            // (saving and restoring six registers) was an eighth of a minor
            // collection's instructions.
            #[inline(always)]
            #[allow(unused_variables)]
            fn trace<__V: #krate::SlotVisitor + ?::core::marker::Sized>(&self, __tracer: &mut #krate::Tracer<'_, __V>) {
                #body
            }
        }

        const _: () = {
            trait MustNotImplDrop {}
            #[allow(drop_bounds, clippy::drop_non_drop)]
            impl<T: ::core::ops::Drop> MustNotImplDrop for T {}
            impl #drop_impl_generics MustNotImplDrop for #name #drop_ty_generics #drop_where {}
        };
    })
}

/// Bounds every type parameter of `generics` by `lifetime` (in its where
/// clause).
fn outlive(generics: &mut syn::Generics, lifetime: TokenStream2) {
    let params: Vec<_> = generics
        .type_params()
        .map(|param| param.ident.clone())
        .collect();
    let where_clause = generics.make_where_clause();
    for ident in params {
        where_clause
            .predicates
            .push(syn::parse_quote!(#ident: #lifetime));
    }
}

/// A field an initializer gives as a handle (by the last segment of the
/// field type's path).
enum Reference<'t> {
    /// `Member<T>`, with its `T`.
    Member(&'t syn::Type),
    /// `Tagged`.
    Tagged,
}

fn reference_field(ty: &syn::Type) -> Option<Reference<'_>> {
    if let syn::Type::Path(path) = ty
        && let Some(last) = path.path.segments.last()
        && last.ident == "Tagged"
        && last.arguments.is_none()
    {
        return Some(Reference::Tagged);
    }
    member_target(ty).map(Reference::Member)
}

/// The `T` of a field declared `Member<T>` (by the last segment of its
/// path), if it is one.
fn member_target(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Member" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    match arguments.args.first() {
        Some(syn::GenericArgument::Type(target)) if arguments.args.len() == 1 => Some(target),
        _ => None,
    }
}

/// One struct or variant's fields in an initializer: their declarations
/// (each `Member<T>` as an optional handle), the pattern that takes an
/// initializer's value apart, the expression that builds the object with
/// null members, and the statements that then set each member from its
/// handle, given the allocated object's fields bound by `object_pattern`.
struct InitFields {
    declared: TokenStream2,
    pattern: TokenStream2,
    placed: TokenStream2,
    object_pattern: TokenStream2,
    linked: Vec<TokenStream2>,
    has_members: bool,
}

fn init_fields(fields: &Fields, krate: &TokenStream2) -> InitFields {
    let (pattern, names) = bind(fields);
    let slots: Vec<_> = (0..fields.len())
        .map(|i| format_ident!("__slot{}", i))
        .collect();
    let mut declared = Vec::new();
    let mut placed = Vec::new();
    let mut object_fields = Vec::new();
    let mut linked = Vec::new();
    for ((field, name), slot) in fields.iter().zip(&names).zip(&slots) {
        let (vis, ident) = (&field.vis, &field.ident);
        let colon = ident.as_ref().map(|ident| quote!(#ident:));
        match reference_field(&field.ty) {
            Some(Reference::Member(target)) => {
                declared.push(quote! {
                    #vis #colon ::core::option::Option<&'__r dyn #krate::Handle<'__gc, #target>>
                });
                placed.push(quote!(#colon #krate::Member::null()));
                object_fields.push(quote!(#colon #slot));
                linked.push(quote! {
                    #slot.set(__mutator, #name.map(|__handle| #krate::Handle::get(__handle, __mutator)));
                });
            }
            Some(Reference::Tagged) => {
                declared.push(quote!(#vis #colon #krate::TaggedInit<'__r, '__gc>));
                placed.push(quote!(#colon #krate::Tagged::nil()));
                object_fields.push(quote!(#colon #slot));
                linked.push(quote! {
                    #slot.set(__mutator, #name.get(__mutator));
                });
            }
            None => {
                let ty = &field.ty;
                declared.push(quote!(#vis #colon #ty));
                placed.push(quote!(#colon #name));
                object_fields.push(quote!(#colon _));
            }
        }
    }
    let (declared, placed, object_pattern) = match fields {
        Fields::Named(_) => (
            quote!({ #( #declared, )* }),
            quote!({ #( #placed ),* }),
            quote!({ #( #object_fields ),* }),
        ),
        Fields::Unnamed(_) => (
            quote!(( #( #declared ),* )),
            quote!(( #( #placed ),* )),
            quote!(( #( #object_fields ),* )),
        ),
        Fields::Unit => (quote!(), quote!(), quote!()),
    };
    InitFields {
        declared,
        pattern,
        placed,
        object_pattern,
        has_members: !linked.is_empty(),
        linked,
    }
}

/// `#[trace(init)]`: the `{Name}Init` struct or enum and its `Init` impl.
fn initializer(input: &DeriveInput, krate: &TokenStream2) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let init_name = format_ident!("{}Init", name);
    let vis = &input.vis;

    let mut init_generics = input.generics.clone();
    outlive(&mut init_generics, quote!('__r));
    init_generics.params.insert(0, syn::parse_quote!('__gc));
    init_generics.params.insert(0, syn::parse_quote!('__r));
    let (impl_generics, init_ty_generics, where_clause) = init_generics.split_for_impl();
    let (_, ty_generics, _) = input.generics.split_for_impl();

    // The declaration, the match arms of `try_alloc_in`, and whether there
    // is any reference field at all.
    let (declaration, arms, has_members) = match &input.data {
        Data::Struct(data) => {
            let fields = init_fields(&data.fields, krate);
            let InitFields {
                declared,
                pattern,
                placed,
                object_pattern,
                linked,
                ..
            } = &fields;
            let declaration = match data.fields {
                Fields::Named(_) => {
                    quote!(struct #init_name #impl_generics #where_clause #declared)
                }
                _ => quote!(struct #init_name #impl_generics #declared #where_clause;),
            };
            let arm = quote! {
                #init_name #pattern => {
                    let __root = __mutator.try_alloc(#name #placed)?;
                    let #name #object_pattern = __root.get(__mutator).get_ref();
                    #( #linked )*
                    ::core::result::Result::Ok(__root)
                }
            };
            (declaration, vec![arm], fields.has_members)
        }
        Data::Enum(data) => {
            let mut variants = Vec::new();
            let mut arms = Vec::new();
            let mut any = false;
            for variant in &data.variants {
                let ident = &variant.ident;
                let fields = init_fields(&variant.fields, krate);
                let declared = &fields.declared;
                any |= fields.has_members;
                variants.push(quote!(#ident #declared));
                let (pattern, placed) = (&fields.pattern, &fields.placed);
                let (object_pattern, linked) = (&fields.object_pattern, &fields.linked);
                let link = if fields.has_members {
                    quote! {
                        if let #name::#ident #object_pattern = __root.get(__mutator).get_ref() {
                            #( #linked )*
                        }
                    }
                } else {
                    quote!()
                };
                arms.push(quote! {
                    #init_name::#ident #pattern => {
                        let __root = __mutator.try_alloc(#name::#ident #placed)?;
                        #link
                        ::core::result::Result::Ok(__root)
                    }
                });
            }
            let declaration =
                quote!(enum #init_name #impl_generics #where_clause { #( #variants ),* });
            (declaration, arms, any)
        }
        Data::Union(_) => unreachable!("refused before"),
    };
    if !has_members {
        return Err(syn::Error::new_spanned(
            name,
            "`#[trace(init)]` is for types with `Member` or `Tagged` fields; \
             allocate this one with `Mutator::alloc`",
        ));
    }
    let mut impl_where = where_clause.cloned().expect("made above");
    impl_where
        .predicates
        .push(syn::parse_quote!(#name #ty_generics: #krate::Trace));
    let doc = format!(
        "The initializer of [`{name}`] (from `#[trace(init)]`): its fields, with each \
         `Member` given as the handle of the object it is to point at and each `Tagged` \
         as a `TaggedInit`. Allocate it with `Mutator::alloc_init`."
    );
    Ok(quote! {
        #[doc = #doc]
        #vis #declaration

        impl #impl_generics #krate::Init<'__gc> for #init_name #init_ty_generics #impl_where {
            type Target = #name #ty_generics;

            fn try_alloc_in(
                self,
                __mutator: &mut #krate::Mutator<'__gc>,
            ) -> ::core::result::Result<#krate::Root<'__gc, #name #ty_generics>, #krate::GcError> {
                match self {
                    #( #arms )*
                }
            }
        }
    })
}
