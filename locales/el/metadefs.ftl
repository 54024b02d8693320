# Μηνύματα σφάλματος του καταλόγου ορισμών μεταδεδομένων (/image/v2/metadefs), ελληνικά.


md-namespace-not-found = δεν υπάρχει χώρος ονομάτων ορισμών μεταδεδομένων με όνομα { $namespace }
md-namespace-exists = υπάρχει ήδη χώρος ονομάτων ορισμών μεταδεδομένων με όνομα { $namespace }
md-namespace-protected = ο χώρος ονομάτων { $namespace } είναι προστατευμένος: ενημερώστε τον με "protected": false πριν τον διαγράψετε
md-namespace-protected-content = ο χώρος ονομάτων { $namespace } είναι προστατευμένος: { $kind ->
        [property] οι ορισμοί ιδιοτήτων του
        [object] τα αντικείμενά του
        [tag] οι ετικέτες του
       *[association] οι συσχετίσεις του με τύπους πόρων
    } δεν διαγράφονται όσο είναι προστατευμένος
md-not-owner = μόνο ο κάτοχος του χώρου ονομάτων { $namespace } (ή ένας διαχειριστής) μπορεί να τον αλλάξει
md-public-needs-admin = μόνο ένας διαχειριστής μπορεί να κάνει έναν χώρο ονομάτων δημόσιο
md-owner-needs-admin = μόνο ένας διαχειριστής μπορεί να δώσει έναν χώρο ονομάτων σε άλλο έργο ({ $owner })
md-property-not-found = ο χώρος ονομάτων { $namespace } δεν έχει ορισμό ιδιότητας με όνομα { $name }
md-object-not-found = ο χώρος ονομάτων { $namespace } δεν έχει αντικείμενο με όνομα { $name }
md-tag-not-found = ο χώρος ονομάτων { $namespace } δεν έχει ετικέτα με όνομα { $name }
md-property-exists = ο χώρος ονομάτων { $namespace } έχει ήδη ορισμό ιδιότητας με όνομα { $name }
md-object-exists = ο χώρος ονομάτων { $namespace } έχει ήδη αντικείμενο με όνομα { $name }
md-tag-exists = ο χώρος ονομάτων { $namespace } έχει ήδη ετικέτα με όνομα { $name }
md-association-not-found = ο χώρος ονομάτων { $namespace } δεν συσχετίζεται με τον τύπο πόρου { $resource_type }
md-association-exists = ο χώρος ονομάτων { $namespace } συσχετίζεται ήδη με τον τύπο πόρου { $resource_type }
md-invalid-namespace = μη έγκυρος χώρος ονομάτων: { $detail }
md-invalid-property = μη έγκυρος ορισμός ιδιότητας: { $detail }
md-invalid-object = μη έγκυρο αντικείμενο: { $detail }
md-invalid-tag = μη έγκυρη ετικέτα: { $detail }
md-invalid-association = μη έγκυρη συσχέτιση τύπου πόρου: { $detail }
md-invalid-definition = μη έγκυρος ορισμός της ιδιότητας { $property }: λέξη-κλειδί '{ $keyword }': { $detail }
md-required-undefined = το αντικείμενο { $object } απαιτεί την ιδιότητα { $property }, την οποία δεν ορίζει
md-duplicate-in-request = το { $name } εμφανίζεται περισσότερες από μία φορές στο αίτημα
md-tags-missing = το σώμα του αιτήματος χρειάζεται "tags": μια λίστα αντικειμένων {"{"}"name": …{"}"}
md-body-not-object = το σώμα του αιτήματος πρέπει να είναι αντικείμενο JSON
md-empty-body = το σώμα του αιτήματος είναι κενό: αναμένεται αντικείμενο JSON
md-bad-json = το σώμα του αιτήματος δεν είναι έγκυρο JSON: { $detail }
md-bad-media-type = το Content-Type '{ $type }' δεν υποστηρίζεται εδώ: στείλτε το σώμα ως application/json
md-bad-limit = το limit '{ $value }' πρέπει να είναι μη αρνητικός ακέραιος
md-bad-sort-key = το sort_key '{ $value }' πρέπει να είναι namespace, created_at ή updated_at
md-bad-sort-dir = το sort_dir '{ $value }' πρέπει να είναι asc ή desc
md-bad-visibility = το visibility '{ $value }' πρέπει να είναι public ή private
md-bad-marker = ο δείκτης { $marker } δεν είναι χώρος ονομάτων που μπορείτε να δείτε
