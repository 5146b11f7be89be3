package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/scheme"
	clienttesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

// Creates, updates and patches, with the apiserver's rules for each.

// generateNameAttempts is how often a create retries when a generated name
// is already taken, as the apiserver does since Kubernetes 1.32.
const generateNameAttempts = 8

// errObjectModified is the reason of every optimistic-concurrency conflict,
// worded as the apiserver words it.
var errObjectModified = errors.New("the object has been modified; please apply your changes to the latest version and try again")

func (c *Cluster) reactCreate(action clienttesting.Action) (bool, runtime.Object, error) {
	a, ok := action.(clienttesting.CreateActionImpl)
	if !ok {
		return false, nil, nil
	}
	ref := objectRef{resource: a.GetResource(), namespace: a.GetNamespace()}
	switch a.GetSubresource() {
	case "":
		// The fake hands every reactor its own deep copy of the action, so
		// the object may be filled in place.
		obj, err := c.create(ref, a.GetObject())
		return true, obj, err
	case "eviction":
		return true, nil, c.evict(ref, a.GetObject())
	case "binding":
		return true, nil, c.bind(ref, a.GetObject())
	default:
		return true, nil, unsupportedSubresource(ref, a.GetSubresource())
	}
}

func (c *Cluster) reactUpdate(action clienttesting.Action) (bool, runtime.Object, error) {
	a, ok := action.(clienttesting.UpdateActionImpl)
	if !ok {
		return false, nil, nil
	}
	ref := objectRef{resource: a.GetResource(), namespace: a.GetNamespace()}
	statusOnly, err := isStatusSubresource(ref, a.GetSubresource())
	if err != nil {
		return true, nil, err
	}
	obj := a.GetObject()
	m, err := metaOf(obj)
	if err != nil {
		return true, nil, apierrors.NewBadRequest(err.Error())
	}
	ref.name = m.GetName()
	old, err := c.get(ref)
	if err != nil {
		return true, nil, err
	}
	out, err := c.update(ref, old, obj, statusOnly)
	return true, out, err
}

func (c *Cluster) reactPatch(action clienttesting.Action) (bool, runtime.Object, error) {
	a, ok := action.(clienttesting.PatchActionImpl)
	if !ok {
		return false, nil, nil
	}
	ref := objectRef{resource: a.GetResource(), namespace: a.GetNamespace(), name: a.GetName()}
	statusOnly, err := isStatusSubresource(ref, a.GetSubresource())
	if err != nil {
		return true, nil, err
	}
	old, err := c.get(ref)
	if apierrors.IsNotFound(err) && a.GetPatchType() == types.ApplyPatchType && !statusOnly {
		// Server-side apply creates what does not exist yet.
		obj, err := c.objectFromApply(ref, a.GetPatch())
		if err != nil {
			return true, nil, err
		}
		out, err := c.create(ref, obj)
		return true, out, err
	}
	if err != nil {
		return true, nil, err
	}
	patched, err := applyPatch(old, a.GetPatchType(), a.GetPatch())
	if err != nil {
		return true, nil, err
	}
	out, err := c.update(ref, old, patched, statusOnly)
	return true, out, err
}

// create stores a new object the way the apiserver does: it picks the name,
// fills the fields only the server sets, applies defaults, validates.
func (c *Cluster) create(ref objectRef, obj runtime.Object) (runtime.Object, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if m.GetResourceVersion() != "" {
		return nil, apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	switch {
	case m.GetNamespace() == "":
		m.SetNamespace(ref.namespace)
	case ref.namespace != "" && m.GetNamespace() != ref.namespace:
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	ref.namespace = m.GetNamespace()

	if m.GetName() == "" && m.GetGenerateName() != "" {
		name, err := c.freeGeneratedName(ref, m.GetGenerateName())
		if err != nil {
			return nil, err
		}
		m.SetName(name)
	}
	ref.name = m.GetName()

	m.SetUID(c.newUID())
	m.SetCreationTimestamp(c.now())
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetGeneration(0)
	if hasSpec(obj) {
		m.SetGeneration(1)
	}
	if errs := c.prepareForCreate(ref, obj); len(errs) > 0 {
		return nil, apierrors.NewInvalid(c.groupKind(ref), nameForErrors(m), errs)
	}
	if err := c.insert(ref, obj); err != nil {
		return nil, err
	}
	c.collectNewDependent(ref, m)
	return obj, nil
}

func (c *Cluster) freeGeneratedName(ref objectRef, prefix string) (string, error) {
	for range generateNameAttempts {
		name := c.generateName(prefix)
		probe := ref
		probe.name = name
		if _, err := c.get(probe); apierrors.IsNotFound(err) {
			return name, nil
		}
	}
	return "", apierrors.NewAlreadyExists(ref.resource.GroupResource(), prefix)
}

// prepareForCreate applies the per-kind create rules: status starts empty (a
// pod starts Pending), Jobs get their defaults and generated selector,
// CronJobs their defaults, and everything is validated.
func (c *Cluster) prepareForCreate(ref objectRef, obj runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *batchv1.Job:
		o.Status = batchv1.JobStatus{}
		hadLabels := len(o.Labels) > 0
		DefaultJob(o)
		generateJobSelector(o)
		if !hadLabels {
			// The apiserver defaults a stored Job again whenever it reads it
			// back, so a Job without labels of its own shows its template's
			// labels including the generated ones.
			o.Labels = maps.Clone(o.Spec.Template.Labels)
		}
		return ValidateJob(o)
	case *batchv1.CronJob:
		o.Status = batchv1.CronJobStatus{}
		DefaultCronJob(o)
		return ValidateCronJob(o)
	case *corev1.Pod:
		o.Status = corev1.PodStatus{Phase: corev1.PodPending}
	}
	return validateObjectMeta(ref, objectMeta(obj))
}

func validateObjectMeta(ref objectRef, m metav1.Object) field.ErrorList {
	return apivalidation.ValidateObjectMetaAccessor(m, namespaced(ref.resource),
		apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// update writes obj over old, either through the main resource or, with
// statusOnly, through the status subresource. Each ignores the other's half
// of the object. An update that changes nothing is not a write: no new
// resourceVersion and no watch event, as with the apiserver.
func (c *Cluster) update(ref objectRef, old, obj runtime.Object, statusOnly bool) (runtime.Object, error) {
	oldMeta := objectMeta(old)
	newMeta, err := metaOf(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if rv := newMeta.GetResourceVersion(); rv != "" && rv != oldMeta.GetResourceVersion() {
		return nil, apierrors.NewConflict(ref.resource.GroupResource(), ref.name, errObjectModified)
	}
	if uid := newMeta.GetUID(); uid != "" && uid != oldMeta.GetUID() {
		return nil, apierrors.NewConflict(ref.resource.GroupResource(), ref.name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, oldMeta.GetUID()))
	}

	var result runtime.Object
	if statusOnly {
		result = old.DeepCopyObject()
		copyStatus(result, obj)
		if job, ok := result.(*batchv1.Job); ok {
			if errs := ValidateJobStatusUpdate(job, old.(*batchv1.Job)); len(errs) > 0 {
				return nil, apierrors.NewInvalid(c.groupKind(ref), ref.name, errs)
			}
		}
	} else {
		result = obj
		keepServerManagedMeta(newMeta, oldMeta)
		copyStatus(result, old)
		if errs := c.prepareForUpdate(ref, old, result); len(errs) > 0 {
			return nil, apierrors.NewInvalid(c.groupKind(ref), ref.name, errs)
		}
		if specChanged(old, result) {
			newMeta.SetGeneration(oldMeta.GetGeneration() + 1)
		}
	}

	objectMeta(result).SetResourceVersion(oldMeta.GetResourceVersion())
	if equality.Semantic.DeepEqual(result, old) {
		return old, nil
	}
	if err := c.replace(ref, old, result); err != nil {
		return nil, err
	}
	return result, nil
}

// keepServerManagedMeta restores the metadata only the server may set; a
// client sending an object without them (or with stale ones) changes nothing.
func keepServerManagedMeta(newMeta, oldMeta metav1.Object) {
	newMeta.SetUID(oldMeta.GetUID())
	newMeta.SetCreationTimestamp(oldMeta.GetCreationTimestamp())
	newMeta.SetDeletionTimestamp(oldMeta.GetDeletionTimestamp())
	newMeta.SetDeletionGracePeriodSeconds(oldMeta.GetDeletionGracePeriodSeconds())
	newMeta.SetGeneration(oldMeta.GetGeneration())
	newMeta.SetNamespace(oldMeta.GetNamespace())
}

// prepareForUpdate applies the per-kind update rules; Jobs and CronJobs get
// defaults and the update checks of the batch API.
func (c *Cluster) prepareForUpdate(ref objectRef, old, obj runtime.Object) field.ErrorList {
	metaPath := field.NewPath("metadata")
	newMeta, oldMeta := objectMeta(obj), objectMeta(old)
	var errs field.ErrorList
	if oldMeta.GetDeletionTimestamp() != nil {
		errs = append(errs, apivalidation.ValidateNoNewFinalizers(newMeta.GetFinalizers(), oldMeta.GetFinalizers(), metaPath.Child("finalizers"))...)
	}
	if job, ok := obj.(*batchv1.Job); ok {
		DefaultJob(job)
		return append(errs, ValidateJobUpdate(job, old.(*batchv1.Job))...)
	}
	if cj, ok := obj.(*batchv1.CronJob); ok {
		DefaultCronJob(cj)
		return append(errs, ValidateCronJobUpdate(cj, old.(*batchv1.CronJob))...)
	}
	errs = append(errs, validateObjectMeta(ref, newMeta)...)
	return append(errs, apivalidation.ValidateObjectMetaAccessorUpdate(newMeta, oldMeta, metaPath)...)
}

func isStatusSubresource(ref objectRef, subresource string) (bool, error) {
	switch subresource {
	case "":
		return false, nil
	case "status":
		return true, nil
	default:
		return false, unsupportedSubresource(ref, subresource)
	}
}

func unsupportedSubresource(ref objectRef, subresource string) error {
	return apierrors.NewMethodNotSupported(ref.resource.GroupResource(),
		fmt.Sprintf("%s (subresource not simulated)", subresource))
}

// nameForErrors is the name an Invalid error reports: the generateName
// prefix stands in when the name is still to be picked.
func nameForErrors(m metav1.Object) string {
	if m.GetName() != "" {
		return m.GetName()
	}
	return m.GetGenerateName()
}

// applyPatch applies a JSON, merge, strategic-merge or apply patch to a copy
// of old. An apply patch is treated as a strategic merge of the applied
// configuration: field ownership is not simulated.
func applyPatch(old runtime.Object, patchType types.PatchType, patch []byte) (runtime.Object, error) {
	original, err := json.Marshal(old)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var patched []byte
	switch patchType {
	case types.JSONPatchType:
		var ops jsonpatch.Patch
		if ops, err = jsonpatch.DecodePatch(patch); err == nil {
			patched, err = ops.Apply(original)
		}
	case types.MergePatchType:
		patched, err = jsonpatch.MergePatch(original, patch)
	case types.StrategicMergePatchType:
		patched, err = strategicpatch.StrategicMergePatch(original, patch, old)
	case types.ApplyPatchType:
		var applied []byte
		if applied, err = yaml.YAMLToJSON(patch); err == nil {
			patched, err = strategicpatch.StrategicMergePatch(original, applied, old)
		}
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("patch type %q is not supported", patchType))
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the patch could not be applied: %v", err))
	}
	out := reflect.New(reflect.TypeOf(old).Elem()).Interface().(runtime.Object)
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the patched object is not valid: %v", err))
	}
	return out, nil
}

// objectFromApply decodes a server-side apply body into a new object of the
// resource's kind, for an apply that creates.
func (c *Cluster) objectFromApply(ref objectRef, patch []byte) (runtime.Object, error) {
	gvk, ok := c.kinds[ref.resource]
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot apply to unknown resource %s", ref.resource))
	}
	obj, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	body, err := yaml.YAMLToJSON(patch)
	if err == nil {
		err = json.Unmarshal(body, obj)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the applied configuration is not valid: %v", err))
	}
	m := objectMeta(obj)
	m.SetName(ref.name)
	m.SetResourceVersion("")
	return obj, nil
}
