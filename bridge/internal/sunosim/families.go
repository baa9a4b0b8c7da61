package sunosim

import (
	"fmt"
	"strings"
)

// Family is one of the provider's task families as its documentation
// describes it, from the provider's side: where tasks are submitted and their state
// read, and what its callbacks and details answers look like. The bridge
// has its own description; a test holds the two to the same paths.
type Family struct {
	Name            string // the bridge's name for it, also the simulated task's type
	Submit, Details string
	Kind            string // music, music-one-shot, lyrics, wav, stems, midi, video, cover-image, voice
	callbackField   string // the submit body's callback URL member, when not callBackUrl
}

// Families lists every family the simulator serves, add-vocals first.
var Families = []Family{
	{Name: "vocals", Submit: SubmitPath, Details: RecordInfoPath, Kind: "music"},
	{Name: "generate", Submit: "/api/v1/generate", Details: RecordInfoPath, Kind: "music"},
	{Name: "extend", Submit: "/api/v1/generate/extend", Details: RecordInfoPath, Kind: "music"},
	{Name: "upload-cover", Submit: "/api/v1/generate/upload-cover", Details: RecordInfoPath, Kind: "music"},
	{Name: "upload-extend", Submit: "/api/v1/generate/upload-extend", Details: RecordInfoPath, Kind: "music"},
	{Name: "add-instrumental", Submit: "/api/v1/generate/add-instrumental", Details: RecordInfoPath, Kind: "music"},
	{Name: "replace-section", Submit: "/api/v1/generate/replace-section", Details: RecordInfoPath, Kind: "music-one-shot"},
	{Name: "lyrics", Submit: "/api/v1/lyrics", Details: "/api/v1/lyrics/record-info", Kind: "lyrics"},
	{Name: "wav", Submit: "/api/v1/wav/generate", Details: "/api/v1/wav/record-info", Kind: "wav"},
	{Name: "stems", Submit: "/api/v1/vocal-removal/generate", Details: "/api/v1/vocal-removal/record-info", Kind: "stems"},
	{Name: "midi", Submit: "/api/v1/midi/generate", Details: "/api/v1/midi/record-info", Kind: "midi"},
	{Name: "video", Submit: "/api/v1/mp4/generate", Details: "/api/v1/mp4/record-info", Kind: "video"},
	{Name: "cover-image", Submit: "/api/v1/suno/cover/generate", Details: "/api/v1/suno/cover/record-info", Kind: "cover-image"},
	{Name: "voice-validate", Submit: "/api/v1/voice/validate", Details: "/api/v1/voice/validate-info", Kind: "voice"},
	{Name: "voice-regenerate", Submit: "/api/v1/voice/regenerate", Details: "/api/v1/voice/validate-info", Kind: "voice", callbackField: "calBackUrl"},
	{Name: "voice", Submit: "/api/v1/voice/generate", Details: "/api/v1/voice/record-info", Kind: "voice"},
	// Listed by the providers without a callback page: the music envelope,
	// as the generate family's.
	{Name: "sounds", Submit: "/api/v1/generate/sounds", Details: RecordInfoPath, Kind: "music"},
	{Name: "mashup", Submit: "/api/v1/generate/mashup", Details: RecordInfoPath, Kind: "music"},
}

// FamilyNamed returns the family called name.
func FamilyNamed(name string) (Family, bool) {
	for _, f := range Families {
		if f.Name == name {
			return f, true
		}
	}
	return Family{}, false
}

// CallbackField is the submit body's member naming the callback URL.
func (f Family) CallbackField() string {
	if f.callbackField != "" {
		return f.callbackField
	}
	return "callBackUrl"
}

// taskType is the record-info type: add_vocals, generate, upload_cover...
func (f Family) taskType() string {
	if f.Name == "vocals" {
		return "add_vocals"
	}
	return strings.ReplaceAll(f.Name, "-", "_")
}

// staged reports whether the family reports text and first.
func (f Family) staged() bool { return f.Kind == "music" }

// Spellings of the two main providers' pages: where they disagree, S and
// K write a callback differently (the provider's documentation).
const (
	SpellingS = "s"
	SpellingK = "k"
)

// oneShotBody is the callback of a family without tracks on reaching its
// end (complete, or error with the task's failure code), in spelling sp.
func (t *task) oneShotBody(stage, sp string) map[string]any {
	failed := stage == "error"
	code, msg := 200, "success"
	if failed {
		code, msg = t.fault.Fail, failureMsg(t.fault.Fail)
	}
	base := t.media + t.ID
	data := map[string]any{}
	body := map[string]any{"code": code, "msg": msg, "data": data}
	id := func(k, s string) { // where each spelling puts the task id
		if sp == SpellingS {
			data[s] = t.ID
		} else {
			data[k] = t.ID
		}
	}
	switch t.fam.Kind {
	case "lyrics":
		id("task_id", "taskId")
		data["callbackType"] = stage
		items := []map[string]any{}
		if !failed {
			items = append(items, map[string]any{"text": "[Verse]\n" + t.prompt, "title": t.title, "status": "complete", "errorMessage": ""})
		}
		if sp == SpellingS {
			data["lyricsData"] = items
		} else {
			for _, it := range items {
				it["error_message"] = it["errorMessage"]
				delete(it, "errorMessage")
			}
			data["data"] = items
		}
	case "wav":
		data["task_id"] = t.ID
		url := any(nil)
		if !failed {
			url = base + ".wav"
		}
		if sp == SpellingS {
			data["audio_wav_url"] = url
		} else {
			data["audioWavUrl"] = url
		}
	case "stems":
		data["task_id"] = t.ID
		if failed {
			data["vocal_removal_info"] = nil
			break
		}
		if sp == SpellingS {
			urls := map[string]any{"origin_url": ""}
			for _, s := range []string{"vocal", "backing_vocals", "drums", "bass", "guitar", "keyboard", "percussion", "strings", "synth", "fx", "brass", "woodwinds"} {
				urls[s+"_url"] = fmt.Sprintf("%s/%s.mp3", base, s)
			}
			data["vocal_separation_info"] = urls
		} else {
			data["vocal_removal_info"] = map[string]any{"origin_url": "", "vocal_url": base + "/vocal.mp3", "instrumental_url": base + "/instrumental.mp3"}
		}
	case "midi":
		if sp == SpellingS {
			body["task_id"] = t.ID
		} else {
			data["taskId"] = t.ID
		}
		if failed {
			body["data"] = nil
			if sp == SpellingK {
				body["data"] = map[string]any{"taskId": t.ID, "state": "failed"}
			}
			break
		}
		data["state"] = "complete"
		data["instruments"] = midiInstruments(sp)
	case "video":
		data["task_id"] = t.ID
		data["video_url"] = nil
		if !failed {
			data["video_url"] = base + ".mp4"
		}
	case "cover-image":
		data["taskId"] = t.ID
		data["images"] = nil
		if !failed {
			data["images"] = []string{base + "/cover-1.png", base + "/cover-2.png"}
		}
	case "voice":
		data["taskId"] = t.ID
		switch {
		case failed && t.fam.Name == "voice":
			data["status"], data["errorCode"], data["errorMessage"] = "fail", 500, msg
		case failed:
			data["status"], data["errorCode"], data["errorMessage"] = "processing_validate_fail", 500, msg
		case t.fam.Name == "voice":
			data["status"], data["voiceId"] = "success", "voice_"+t.ID[:8]
		default:
			data["status"], data["validateInfo"] = "wait_validating", "Please read: "+t.prompt
		}
		if failed && sp == SpellingK {
			body["code"] = 400 // K's failure examples: code 400, data.errorCode 500
		}
	}
	return body
}

// midiInstruments are two instruments; S writes note times as numbers, K
// mixes numbers and strings, as its pages do.
func midiInstruments(sp string) []map[string]any {
	num := func(f float64) any {
		if sp == SpellingK {
			return fmt.Sprintf("%.3f", f)
		}
		return f
	}
	return []map[string]any{
		{"name": "Drums", "notes": []map[string]any{
			{"pitch": 36, "start": num(0), "end": 0.25, "velocity": 100},
			{"pitch": 38, "start": num(0.5), "end": num(0.75), "velocity": 96}}},
		{"name": "Electric Bass (finger)", "notes": []map[string]any{
			{"pitch": 40, "start": 0.0, "end": num(1.5), "velocity": 90}}},
	}
}

// oneShotDetails is the data of a details answer for a family without
// tracks, in its vocabulary.
func (t *task) oneShotDetails(sp string) map[string]any {
	data := map[string]any{"taskId": t.ID, "param": t.param, "errorCode": nil, "errorMessage": nil}
	pending, failed := t.stage == "", t.stage == "error"
	if failed {
		data["errorCode"], data["errorMessage"] = t.fault.Fail, failureMsg(t.fault.Fail)
	}
	word := func(success, failure string) string {
		switch {
		case pending:
			return "PENDING"
		case failed:
			return failure
		}
		return success
	}
	// The result, as the callback carries it but camelCase.
	result := map[string]any{}
	if !pending && !failed {
		if d, ok := t.oneShotBody("complete", SpellingK)["data"].(map[string]any); ok {
			for k, v := range d {
				if k != "task_id" && k != "taskId" && k != "callbackType" {
					result[camel(k)] = v
				}
			}
		}
	}
	switch t.fam.Kind {
	case "lyrics":
		data["status"] = word("SUCCESS", "GENERATE_LYRICS_FAILED")
		if items, ok := result["data"]; ok {
			data["response"] = map[string]any{"taskId": t.ID, "data": items}
		}
	case "wav", "video":
		data["successFlag"] = word("SUCCESS", map[string]string{"wav": "GENERATE_WAV_FAILED", "video": "GENERATE_MP4_FAILED"}[t.fam.Kind])
		data["response"] = result
	case "stems":
		data["successFlag"] = word("SUCCESS", "GENERATE_AUDIO_FAILED")
		if info, ok := result["vocalRemovalInfo"].(map[string]any); ok {
			flat := map[string]any{}
			for k, v := range info {
				flat[camel(k)] = v
			}
			data["response"] = flat
		}
	case "midi":
		flag := 1
		switch {
		case pending:
			flag = 0
		case failed:
			flag = 3
		}
		data["successFlag"] = flag
		if !pending && !failed {
			data["midiData"] = map[string]any{"instruments": result["instruments"]}
		}
	case "cover-image":
		// Documented both as numbers and as words: S's simulator answers
		// with words, K's with numbers.
		if sp == SpellingS {
			data["successFlag"] = word("SUCCESS", "GENERATE_COVER_FAILED")
		} else {
			data["successFlag"] = map[string]int{"PENDING": 0, "SUCCESS": 1, "FAILED": 3}[word("SUCCESS", "FAILED")]
		}
		data["response"] = map[string]any{"images": result["images"]}
	case "voice":
		status := "processing"
		if !pending {
			body := t.oneShotBody(map[bool]string{true: "error", false: "complete"}[failed], SpellingK)
			d := body["data"].(map[string]any)
			for k, v := range d {
				data[k] = v
			}
			status, _ = d["status"].(string)
		}
		data["status"] = status
	}
	return data
}

// camel turns vocal_url into vocalUrl.
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
