-- Every definition that sql/ files own, one row each: (kind, name, definition).
-- verify compares this before and after running each sql/ file in a rolled-back transaction.
-- Names are built with format() and quote_ident rules so the output does not depend on search_path; the caller
-- also pins search_path while this runs, because pg_get_*def qualify names by visibility.
-- Parameter: %(schemas)s, the project's schemas.
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace WHERE nspname = ANY (%(schemas)s)
), extension_members AS (
    SELECT objid FROM pg_depend WHERE deptype = 'e'
)
SELECT 'function' AS kind,
       format('%%I.%%I(%%s)', ns.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS name,
       pg_get_functiondef(p.oid)
         || E'\n-- acl: ' || coalesce(p.proacl::text, 'default')
         || E'\n-- comment: ' || coalesce(obj_description(p.oid, 'pg_proc'), '') AS definition
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p', 'w') AND p.oid NOT IN (SELECT objid FROM extension_members)
UNION ALL
SELECT 'trigger',
       format('%%I on %%I.%%I', t.tgname, ns.nspname, c.relname),
       pg_get_triggerdef(t.oid) || ' -- enabled: ' || t.tgenabled::text
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON ns.oid = c.relnamespace
WHERE NOT t.tgisinternal
UNION ALL
SELECT CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
       format('%%I.%%I', ns.nspname, c.relname),
       pg_get_viewdef(c.oid)
         || E'\n-- options: ' || coalesce(c.reloptions::text, '')
         || E'\n-- acl: ' || coalesce(c.relacl::text, 'default')
         || E'\n-- comment: ' || coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT 'policy',
       format('%%I on %%I.%%I', pol.polname, ns.nspname, c.relname),
       format('FOR %%s %%s TO %%s USING (%%s) WITH CHECK (%%s)',
              pol.polcmd, CASE WHEN pol.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
              (SELECT string_agg(CASE r WHEN 0 THEN 'public' ELSE r::regrole::text END, ', ' ORDER BY 1)
                 FROM unnest(pol.polroles) AS r),
              pg_get_expr(pol.polqual, pol.polrelid), pg_get_expr(pol.polwithcheck, pol.polrelid))
FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid JOIN ns ON ns.oid = c.relnamespace
UNION ALL
SELECT 'grants on table',
       format('%%I.%%I', ns.nspname, c.relname),
       'acl: ' || coalesce(c.relacl::text, 'default')
         || ' rls: ' || c.relrowsecurity || ' forced: ' || c.relforcerowsecurity
         || coalesce(' columns: ' || (SELECT string_agg(format('%%I %%s', a.attname, a.attacl), ', ' ORDER BY a.attnum)
                                        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL), '')
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'S', 'f')
UNION ALL
SELECT 'grants on schema', format('%%I', ns.nspname), coalesce(n.nspacl::text, 'default')
FROM pg_namespace n JOIN ns ON ns.oid = n.oid
UNION ALL
SELECT 'default privileges',
       format('%%s in %%s for %%s', d.defaclobjtype, coalesce(dn.nspname, 'all schemas'), d.defaclrole::regrole),
       d.defaclacl::text
FROM pg_default_acl d LEFT JOIN pg_namespace dn ON dn.oid = d.defaclnamespace
WHERE d.defaclnamespace = 0 OR dn.nspname = ANY (%(schemas)s)
ORDER BY 1, 2
